package node

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/trust"
)

// PeerConn is what Peers needs of the federation connection;
// *federation.Conn implements it.
type PeerConn interface {
	RequestLookup(ctx context.Context, home string, req []byte, accept func(reply []byte) error) ([]byte, error)
	ServeLookups(ctx context.Context, handler func(asker string, req []byte) []byte) error
	PublishReceipts(ctx context.Context, home string, raw []byte) error
	RequestErasure(ctx context.Context, asker string, raw []byte, accept func(reply []byte) error) ([]byte, error)
	ServeReceipts(ctx context.Context, handler func(from string, raw []byte) []byte) error
}

// Province-to-province limits.
const (
	// lookupRate and lookupBurst bound the lookups one province may ask
	// of this node: enough for a health authority's case workers, far
	// too few to harvest a province's residents. Only verified requests
	// are charged (peerintake.go).
	lookupRate  = rate.Limit(1) // per second
	lookupBurst = 30
	// lookupRefusalRate and lookupRefusalBurst bound the signed
	// rate_limited refusals sent to a province beyond its lookupRate:
	// each costs a signature. Past them a verified request is dropped
	// unanswered, and its asker times out.
	lookupRefusalRate  = rate.Limit(0.2) // one each 5 s
	lookupRefusalBurst = 5
	// receiptRate and receiptBurst bound the receipts one province may
	// send (a batch every receiptEvery, up to MaxReceiptEntries each).
	// Only verified receipts are charged (peerintake.go).
	receiptRate  = rate.Limit(5)
	receiptBurst = 20
	// erasureRate and erasureBurst bound the erasures one province may
	// send, apart from its receipts (they share a subject, not a limit:
	// a burst of either must not make the other be dropped). A home
	// province sends one erasure per resident it deletes and province
	// that looked them up, so one province's erasures to this node are
	// at most the lookups this node asked of it (lookupRate over the
	// lookup retention) — but they come in bursts: a retention pass or a
	// sunset deletes many residents at once, and its sender sends them
	// one after the other, each once the one before is acknowledged
	// (erasure_sender.go). One erasure dropped here waits out the
	// sender's acknowledgement timeout and its backoff, so the burst
	// takes one sender's pass (erasuresPerPass) at once, and the rate
	// lets a province's full share of the outbox
	// (maxPendingErasuresPerAsker) through in about 17 minutes. Each
	// costs this node an opening and one deletion. Only verified
	// erasures are charged (peerintake.go).
	erasureRate  = rate.Limit(20)
	erasureBurst = erasuresPerPass
	// erasureSendRate and erasureSendBurst pace this node's erasures to
	// one province below what that province accepts (erasureRate and
	// erasureBurst), so that a backlog drains with none dropped there:
	// half the burst leaves room for the burst of a sender restarted
	// (its pace starts full while the province may still count the
	// burst of the one before), and a tenth less of the rate makes that
	// room again. A province's full share drains in about 19 minutes.
	erasureSendRate  = erasureRate * 9 / 10
	erasureSendBurst = erasureBurst / 2
	// maxLookupNonces and maxReceiptNonces bound what each province may
	// hold of this node's replay caches (trust.ReplayCache gives each
	// its own room). A nonce is held for up to trust.LookupWindow plus
	// twice trust.ClockSkew (540 s), and is recorded before the sender's
	// rate is charged, so a province's room must hold what its rate lets
	// through in that time with room to spare: lookups at lookupRate,
	// about 570; receipts and erasures, which share a cache, at
	// receiptRate plus erasureRate, about 13,600. A member flooding
	// verified statements beyond its rate fills its own room only.
	maxLookupNonces  = 1 << 12
	maxReceiptNonces = 1 << 14
	// peerTimeout bounds the work done for one message from a peer.
	peerTimeout = 10 * time.Second
)

// Peers is a node's province-to-province service while it is connected
// to the federation: it asks other provinces' nodes for contact data
// (Node.Lookup), answers their lookups of its own residents, and sends and
// receives verification receipts. Build it with NewPeers and Run it.
type Peers struct {
	n    *Node
	conn PeerConn
	log  *slog.Logger

	// The intake of each kind of message (peerintake.go): limits only
	// verified messages are charged, and refused ones counted and noted.
	lookupIntake  *peerIntake
	refusalLimit  *peerLimiter // signed refusals of verified requests beyond lookupRate
	receiptIntake *peerIntake
	erasureIntake *peerIntake
	// answerRefusals counts the replies to this node's lookups that
	// failed their checks, by home province.
	answerRefusals peerRefusals
	lookupNonces   *trust.ReplayCache
	receiptNonces  *trust.ReplayCache
	receipts       receiptQueue

	// open is read-held by every handler of a peer's message while it
	// runs; Run takes it to close, so that no handler touches the node
	// (its audit log, its database) after Run returns, though the NATS
	// subscriptions still drain.
	open   sync.RWMutex
	closed bool

	// ReceiptEvery is how often queued receipts are sent:
	// privacy.receipts_every, by default an hour.
	ReceiptEvery time.Duration
	// ErasureRetry spaces the attempts at an erasure its province did not
	// acknowledge; by default erasureBackoff. Set it before Run.
	ErasureRetry backoff.Policy
	// ErasureAckTimeout bounds the wait for one erasure's
	// acknowledgement; by default erasureAckTimeout. Set it before Run.
	ErasureAckTimeout time.Duration

	erasures *erasureSender // erasure_sender.go
}

// NewPeers prepares the province-to-province service of n over conn.
func NewPeers(n *Node, conn PeerConn, log *slog.Logger) *Peers {
	if log == nil {
		log = n.log
	}
	listed := listedIn(n.state)
	since, m, guard := n.now(), n.metrics, newOpenGuard(listed)
	return &Peers{n: n, conn: conn, log: log,
		lookupIntake:   newPeerIntake("lookup request", lookupRate, lookupBurst, m.PeerLookups, guard, listed),
		refusalLimit:   newPeerLimiter(lookupRefusalRate, lookupRefusalBurst, listed),
		receiptIntake:  newPeerIntake("verification receipt", receiptRate, receiptBurst, m.Receipts, guard, listed),
		erasureIntake:  newPeerIntake("lookup erasure", erasureRate, erasureBurst, m.Erasures, guard, listed),
		answerRefusals: newPeerRefusals("lookup answer", m.PeerLookups.WithLabelValues(lookupAnswerRefused), listed),
		lookupNonces:   trust.NewReplayCache(since, maxLookupNonces), receiptNonces: trust.NewReplayCache(since, maxReceiptNonces),
		ReceiptEvery: cmp.Or(n.cfg.Privacy.ReceiptsEvery, time.Hour), ErasureRetry: erasureBackoff,
		ErasureAckTimeout: erasureAckTimeout, erasures: newErasureSender()}
}

// Run serves lookups, receipts and erasures addressed to this node, and
// sends its queued receipts and its erasure outbox, until ctx ends (it
// then returns nil, or ctx's error if it ended before serving began).
// While it runs the node asks its lookups and queues its receipts through
// it.
func (p *Peers) Run(ctx context.Context) error {
	defer func() {
		p.open.Lock()
		p.closed = true
		p.open.Unlock()
	}()
	if !p.retry(ctx, "lookups", func() error {
		return p.conn.ServeLookups(ctx, func(asker string, req []byte) (reply []byte) {
			p.handle(func() { reply = p.n.lookups.answer(p, asker, req) })
			return reply
		})
	}) {
		return ctx.Err()
	}
	if !p.retry(ctx, "receipts", func() error {
		return p.conn.ServeReceipts(ctx, func(from string, raw []byte) (reply []byte) {
			p.handle(func() { reply = p.receive(from, raw) })
			return reply
		})
	}) {
		return ctx.Err()
	}
	p.n.peers.Store(p)
	defer p.n.peers.CompareAndSwap(p, nil)
	var wg sync.WaitGroup
	defer wg.Wait() // before the node is closed to handlers
	wg.Go(func() { p.runErasures(ctx) })
	t := time.NewTicker(p.ReceiptEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.sendReceipts(ctx)
		}
	}
}

// retry calls serve until it succeeds (a subscription can fail while
// NATS reconnects) or ctx ends, and reports whether it succeeded.
func (p *Peers) retry(ctx context.Context, what string, serve func() error) bool {
	for attempt := 0; ; attempt++ {
		err := serve()
		if err == nil {
			return true
		}
		d := peersBackoff.Delay(attempt)
		p.log.Warn("not serving peers yet; retrying", "what", what, "err", err, "retry_in", d.String())
		if !backoff.Wait(ctx, d) {
			return false
		}
	}
}

// peersBackoff spaces attempts to start serving lookups and receipts.
var peersBackoff = backoff.Policy{Min: time.Second, Max: 15 * time.Second}

// handle runs fn for one message from a peer unless Run has returned.
func (p *Peers) handle(fn func()) {
	p.open.RLock()
	defer p.open.RUnlock()
	if !p.closed {
		fn()
	}
}

// peerLimiter rate-limits each peer province separately, on the node's
// clock. The province named by a message may be one no keyset is held
// of, or none at all (a refused message is noted in its name), so only
// provinces the trust list lists get a bucket of their own; every other
// name shares one (unlistedPeer), and the map stays as small as the
// trust list.
type peerLimiter struct {
	mu     sync.Mutex
	rate   rate.Limit
	burst  int
	listed func(province string) bool
	m      map[string]*rate.Limiter
}

// unlistedPeer is the key of the bucket shared by every province the
// trust list does not list (not a province id: those are digits).
const unlistedPeer = "unlisted"

func newPeerLimiter(r rate.Limit, burst int, listed func(string) bool) *peerLimiter {
	return &peerLimiter{rate: r, burst: burst, listed: listed, m: map[string]*rate.Limiter{}}
}

// allow takes one token of province's bucket at now, if it has one.
func (l *peerLimiter) allow(province string, now time.Time) bool {
	return l.bucket(province).AllowN(now, 1)
}

// has reports whether province's bucket holds a token at now, taking
// none.
func (l *peerLimiter) has(province string, now time.Time) bool {
	return l.bucket(province).TokensAt(now) >= 1
}

// bucket is province's bucket, the unlisted provinces' shared one for
// an unlisted province.
func (l *peerLimiter) bucket(province string) *rate.Limiter {
	if !l.listed(province) {
		province = unlistedPeer
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[province]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[province] = lim
	}
	return lim
}

// listedIn reports whether the trust list state holds, the node's trust
// state, lists a province, in any status.
func listedIn(state *trust.State) func(province string) bool {
	return func(province string) bool {
		_, ok := state.Snapshot().Members[province]
		return ok
	}
}

// activeMember reports whether province is an active member of the
// federation as state, the node's trust state, sees it now.
func activeMember(state *trust.State, province string) bool {
	m, ok := state.Snapshot().Members[province]
	return ok && m.Status == trust.MemberActive
}

// peerKeys returns what a statement from province is checked with: its
// signing keys and its node's enc key, or an error if state, the node's
// trust state, holds no keyset of it (a removed province's is dropped).
func peerKeys(state *trust.State, province string) (*trust.VerifiedKeyset, error) {
	ks := state.Keyset(province)
	if ks == nil {
		return nil, &trust.Error{Reason: trust.ReasonUnknownIssuer, Detail: "no keyset held for " + province}
	}
	return ks, nil
}

// errNoPeers is returned while the node is not connected to the federation.
var errNoPeers = errors.New("not connected to the federation")
