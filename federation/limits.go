package federation

import (
	"time"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/trust"
)

// Size limits. A message over its limit is dropped and counted on receipt,
// before any handler sees it, and refused before sending.
const (
	// DefaultMaxStateLen bounds a latest-state value read from the bucket.
	// The largest such statement is the federation trust list.
	DefaultMaxStateLen = trust.MaxTrustListLen
	// DefaultMaxRevocationLen bounds one revocation statement read from
	// the stream: it is a signed statement like any other.
	DefaultMaxRevocationLen = trust.MaxStatementLen
	// DefaultMaxSnapshotLen bounds one revocation snapshot object in the snapshot
	// bucket: a signed manifest and binary chunks of 20 bytes an entry
	// (trust/revsnapshot.go), 100 MB for 5,000,000 live revocations. A
	// larger object is refused before it is downloaded.
	DefaultMaxSnapshotLen = trust.MaxSnapshotLen
	// snapshotObjectChunkLen is the size of the chunks PutSnapshot stores
	// a snapshot object in (the object store's default, well within
	// max_payload); a reader refuses metadata claiming more chunks than
	// that size needs (and snapshotChunkSlack), so it fetches at most
	// DefaultMaxSnapshotLen/snapshotObjectChunkLen + 5 (767) chunks.
	snapshotObjectChunkLen = 128 << 10
	// snapshotChunkSlack is how many chunks a snapshot object may hold
	// beyond what its size needs: a node of an earlier release stored a
	// short chunk at the end of each part of its snapshot (three parts),
	// and its snapshots must still be read while the federation upgrades.
	snapshotChunkSlack = 4
	// maxPointerLen bounds the small pointer value of a revsnapshot key.
	maxPointerLen = 1 << 10
	// maxSnapshotRequestLen bounds a snapshot request.
	maxSnapshotRequestLen = 1 << 10
)

// Shape of the JetStream assets EnsureStreams creates.
const (
	// bucketHistory keeps a few overwritten values per key for operators
	// investigating an incident; watchers only ever see the latest.
	bucketHistory = 5
	// bucketMaxValueSize matches nats-server's default max_payload.
	bucketMaxValueSize = 1 << 20
	// bucketMaxBytes bounds the bucket so that a misbehaving member
	// writing many keys under its prefix cannot fill the disk.
	bucketMaxBytes = 256 << 20

	// streamMaxAge keeps revocation deltas a little longer than the
	// longest-lived code (trust.MaxCodeLifetime, 7 days): after that a
	// revocation is moot because the code has expired anyway.
	streamMaxAge = trust.MaxCodeLifetime + 24*time.Hour
	// streamDuplicates is how long a Nats-Msg-Id is remembered. It covers
	// a node that is down for a day and then drains its outbox again;
	// later duplicates are still harmless because peers apply each
	// (province, seq) once.
	streamDuplicates = 24 * time.Hour
	// streamMaxMsgSize matches nats-server's default max_payload.
	streamMaxMsgSize = 1 << 20
	// streamMaxBytes bounds the stream; the oldest deltas go first.
	streamMaxBytes = 1 << 30

	// snapshotBucketMaxBytes bounds the snapshot bucket: one snapshot per
	// province, replaced in place (a put writes the new chunks, then
	// purges the old). At 20 bytes a revocation, 34 provinces holding
	// 100,000 each need 68 MB, and a province in an outbreak with
	// 5,000,000 needs 100 MB, twice while it replaces its snapshot; the
	// bound keeps the three assets within the 2 GB file store of
	// configs/nats-server.conf.
	snapshotBucketMaxBytes = 512 << 20
)

// Shape and quotas of the assets of accounts mode (accounts.go). A
// province's own assets are bounded here, and every aggregate is bounded
// by the sum of what its sources may hold, so that no member can fill
// another account's aggregate; GenerateServerConfig gives each account a
// file quota that holds all of them.
const (
	// ownBucketMaxBytes bounds a province's own state bucket: a keyset,
	// a heartbeat, a snapshot pointer and a content key per peer, with
	// their history.
	ownBucketMaxBytes = 16 << 20
	// ownStreamMaxBytes bounds a province's own revocation stream; the
	// oldest deltas go first.
	ownStreamMaxBytes = 128 << 20
	// ownSnapshotMaxBytes holds one snapshot of trust.MaxSnapshotLen
	// twice, while it is replaced.
	ownSnapshotMaxBytes = 2*trust.MaxSnapshotLen + 16<<20
	// accountMaxMemBytes is each account's memory-storage quota; the
	// federation stores nothing in memory.
	accountMaxMemBytes = 8 << 20
	// DefaultAccountMaxConsumers is each account's consumer quota: its
	// node's watchers and consumers, and one sourcing consumer per other
	// account on each of its own streams.
	DefaultAccountMaxConsumers = 512
	// DefaultAccountMaxConnections is each account's limit on client
	// connections: its node and its verifier replicas (two each, the
	// sync's and the services', ConnConfig.ServicesConn) and the
	// operators' admin tools. Summed over 35 accounts (8,960) it stays
	// under the server's own limit (65,536), which every account shares:
	// one province's flood cannot lock the others out.
	DefaultAccountMaxConnections = 256
	// DefaultAccountMaxSubscriptions bounds the subscriptions of each
	// connection of an account (nats-server applies an account's
	// max_subscriptions to every connection, not to their sum): a node
	// holds a handful (watchers, consumers, services, its inbox). An
	// account holds at most this times DefaultAccountMaxConnections.
	DefaultAccountMaxSubscriptions = 512
	// ServerMaxPending is the server's max_pending: what it holds for one
	// client connection that does not read (a slow consumer) before it
	// closes it. nats-server's default, 64 MB, let one account's 256
	// connections (DefaultAccountMaxConnections) that subscribe and never
	// read make it hold 16 GB; at 16 MB it is 4 GB. A node reads
	// everything it subscribes to at once and holds back, per connection,
	// a revocation consumer's pull of at most consumerMaxBytes (8 MB), a
	// snapshot chunk at a time (1 MB at most, GetMsg) and the state
	// watcher's flow-controlled window: at 8 MB, one full pull and a
	// chunk behind a slow link would cut it. The generated configuration
	// sets it (accounts_render.go), and StartServer when its configuration
	// does not.
	ServerMaxPending = 16 << 20
)

// Timing.
const (
	// readyTimeout bounds how long StartServer waits for the server.
	readyTimeout = 10 * time.Second
	// pingInterval and maxPingsOut notice a dead server within a minute.
	pingInterval = 20 * time.Second
	maxPingsOut  = 3
	// reconnectMin and reconnectMax bound the reconnect backoff
	// (reconnectBackoff), which watcher, consumer and sync-step restarts
	// share.
	reconnectMin = 250 * time.Millisecond
	reconnectMax = 15 * time.Second
	// minDialTimeout is the least time Connect gives one server to
	// answer, however close the caller's deadline.
	minDialTimeout = 100 * time.Millisecond
	// flushTimeout bounds a flush when the caller's context has no deadline.
	flushTimeout = 10 * time.Second
	// drainTimeout bounds how long a stopped watcher may take to close.
	drainTimeout = 5 * time.Second
	// closeWait bounds each of Close's two waits for its goroutines.
	closeWait = 5 * time.Second
	// refetchTimeout bounds reading again the keysets a new trust list
	// dropped (refetchDroppedKeysets).
	refetchTimeout = 5 * time.Second
	// minRepublish is the least time between two snapshots published on
	// request (ServeSnapshotRequests): a burst of requests costs one.
	minRepublish = 5 * time.Second
	// republishIdle is how many times as long as its last run a province
	// waits before it publishes another snapshot on request, if that is
	// longer than minRepublish: requests are anyone's to send, and a
	// snapshot of millions of entries takes seconds to build and store,
	// so requests can keep its node publishing at most a fifth of the
	// time.
	republishIdle = 4
)

// Retry policies (internal/backoff: exponential, full jitter).
var (
	// reconnectBackoff spaces NATS reconnects and the restarts of state
	// watchers, revocation consumers and sync steps.
	reconnectBackoff = backoff.Policy{Min: reconnectMin, Max: reconnectMax}
	// catchupBackoff spaces attempts to fill the same province's gap.
	catchupBackoff = backoff.Policy{Min: retryMin, Max: retryMax}
	// persistBackoff spaces attempts to write the statement cache after a
	// failure (persist.go).
	persistBackoff = backoff.Policy{Min: persistRetryMin, Max: persistRetryMax}
	// placementBackoff spaces SetupAccounts' attempts to create streams
	// the cluster could not yet place (PlacementWait).
	placementBackoff = backoff.Policy{Min: 250 * time.Millisecond, Max: 4 * time.Second}
)

// PlacementWait is how long SetupAccounts (hcnode nats-setup) goes on
// trying to create a replicated stream that JetStream answers "no
// suitable peers for placement": right after a cluster starts, its meta
// leader places a replica on a server only once it has heard from it,
// a few seconds after the server joined.
const PlacementWait = 30 * time.Second

// setupAttemptWait bounds one attempt of SetupAccounts (hcnode
// nats-setup) or EnsureStreamsPlaced (hcnode trust publish) to check or
// create streams; one that takes longer is made again (whilePlacing). A
// JetStream API reply comes at most once: one lost on a cluster just
// started left nats-setup waiting for it until its whole timeout. A
// stream created on a loaded machine answers within a few seconds.
const setupAttemptWait = 10 * time.Second

// jsErrNoPeers is JetStream's error code for a stream it could not place
// on enough servers (nats-server's JSClusterNoPeersErrF).
const jsErrNoPeers = 10005

// ClusterInfoTimeout bounds the stream-info requests of one
// Conn.ClusterInfo: with JetStream's quorum lost nobody answers them.
const ClusterInfoTimeout = 2 * time.Second
