package node

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Link publishes a node's own statements to the federation: its keyset,
// a content-key grant for each member, revocations from the outbox, a
// revocation snapshot and a heartbeat. It implements Federation. Peers'
// statements come in through federation.Sync, not here.
type Link struct {
	n    *Node
	conn *federation.Conn
	log  *slog.Logger

	keysKick  chan struct{}
	revKick   chan struct{}
	snapKick  chan struct{}
	grantKick chan struct{}

	// Republish is how often everything is published again even without a
	// change, so that a peer that missed a value (or whose KV entry was
	// clobbered) converges. Default 30 s.
	Republish time.Duration
	// StuckAfter is how long a revocation may wait in the outbox before
	// Ready reports the outbox stuck. Default outboxStuckAfter.
	StuckAfter time.Duration

	keysetMu sync.Mutex // serialises keyset puts (putKeyset)

	grantMu  sync.Mutex
	grantDue map[string]bool   // peers whose keyset changed since their grant was checked
	granted  map[string]string // kid of the enc key each peer was last granted to

	snapMu   sync.Mutex
	snapSeq  uint64 // seq of the last snapshot published
	snapped  bool
	snapTime time.Time // when it was published
	covered  atomic.Uint64

	streamMu     sync.Mutex
	streamErr    error     // why the revocation stream is missing and not recreated
	streamGoneAt time.Time // when the stream was first found missing; zero while it is there
}

// snapshotEvery bounds how often a snapshot of every live revocation is
// signed and uploaded (megabytes in an outbreak). Deltas carry each
// revocation at once; the snapshot is the catch-up point, and a peer that
// needs a fresher one asks for it.
const snapshotEvery = time.Minute

// reconcileBackoff spaces attempts to reconcile a restored database with
// the federation (reconcile).
var reconcileBackoff = backoff.Policy{Min: time.Second, Max: 30 * time.Second}

// NewLink makes the outbound half of a node's federation link and
// attaches it to the node.
func NewLink(n *Node, conn *federation.Conn, log *slog.Logger) *Link {
	if log == nil {
		log = n.log
	}
	l := &Link{n: n, conn: conn, log: log, Republish: 30 * time.Second, StuckAfter: outboxStuckAfter,
		keysKick: make(chan struct{}, 1), revKick: make(chan struct{}, 1), snapKick: make(chan struct{}, 1),
		grantKick: make(chan struct{}, 1), grantDue: map[string]bool{}, granted: map[string]string{}}
	n.SetFederation(l)
	return l
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// KeysChanged schedules publication of the keyset and grants.
func (l *Link) KeysChanged(context.Context) { kick(l.keysKick) }

// RevocationsPending schedules draining of the revocation outbox.
func (l *Link) RevocationsPending(context.Context) { kick(l.revKick) }

// PeerKeyset is called when a peer's keyset changed: if it names an
// encryption key other than the one last granted to, that peer (and only
// that peer) is granted the content keys again. A member may publish
// keysets as often as it likes; that must not make every node publish
// grants to the whole federation.
func (l *Link) PeerKeyset(province string) {
	l.grantMu.Lock()
	l.grantDue[province] = true
	l.grantMu.Unlock()
	kick(l.grantKick)
}

// GrantTo grants the live content keys to each of ids at once, whatever
// encryption key it was last granted to: members the trust list
// reinstated or added, whose keysets need not have changed.
func (l *Link) GrantTo(ids []string) {
	l.grantMu.Lock()
	for _, id := range ids {
		delete(l.granted, id)
		l.grantDue[id] = true
	}
	l.grantMu.Unlock()
	kick(l.grantKick)
}

// SnapshotRequested asks for a fresh revocation snapshot to be published.
func (l *Link) SnapshotRequested(ctx context.Context) error {
	return l.publishSnapshot(ctx, true)
}

// Run publishes until ctx ends. It drains the outbox first, so a node that
// crashed after committing a revocation publishes it on restart.
func (l *Link) Run(ctx context.Context) {
	// A restored database first takes back what the federation already
	// holds from it; nothing is published before that succeeded.
	for n := 0; ; n++ {
		err := l.reconcile(ctx)
		if err == nil {
			break
		}
		l.log.Error("reconciling the restored database with the federation failed; retrying before publishing", "err", err)
		if !reconcileBackoff.Sleep(ctx, n) {
			return
		}
	}
	kick(l.keysKick)
	kick(l.revKick)
	kick(l.snapKick) // covers what the outbox set aside before a restart
	tick := time.NewTicker(l.Republish)
	defer tick.Stop()
	// A failed publication is tried again on outboxBackoff, not at the
	// next Republish tick: a grant that failed while the NATS cluster
	// elected a leader left a peer unable to read this province's codes
	// for up to Republish.
	revRetry, keysRetry, grantRetry := newRetry(l.revKick), newRetry(l.keysKick), newRetry(l.grantKick)
	defer revRetry.stop()
	defer keysRetry.stop()
	defer grantRetry.stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.keysKick:
			keysRetry.after(l.report(l.publishKeys(ctx), "keys"))
		case <-l.grantKick:
			grantRetry.after(l.report(l.grantChanged(ctx), "grants"))
		case <-l.revKick:
			revRetry.after(l.report(l.drainOutbox(ctx), "revocations"))
		case <-l.snapKick:
			l.report(l.publishSnapshot(ctx, false), "snapshot")
		case <-revRetry.timer.C:
			kick(revRetry.kick)
		case <-keysRetry.timer.C:
			kick(keysRetry.kick)
		case <-grantRetry.timer.C:
			kick(grantRetry.kick)
		case <-tick.C:
			l.checkStream(ctx)
			kick(l.keysKick)
			kick(l.revKick)
			kick(l.snapKick)
		}
	}
}

func (l *Link) report(err error, what string) error {
	if err != nil && !errorsIsCanceled(err) {
		l.log.Warn("federation publish failed; will retry", "what", what, "err", err)
	}
	return err
}

// retry kicks a publication again after it failed, on outboxBackoff
// (consecutive failures wait longer); the Run goroutine's alone.
type retry struct {
	timer    *time.Timer
	kick     chan struct{}
	failures int
}

func newRetry(kick chan struct{}) *retry {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &retry{timer: t, kick: kick}
}

// after schedules the next try if err is not nil, and forgets earlier
// failures if it is.
func (r *retry) after(err error) {
	if err == nil {
		r.failures = 0
		return
	}
	r.timer.Reset(outboxBackoff.Delay(r.failures))
	r.failures++
}

func (r *retry) stop() { r.timer.Stop() }

// publishKeys puts the keyset, a grant of the live content keys to every
// member that has published an encryption key, and a heartbeat.
func (l *Link) publishKeys(ctx context.Context) error {
	self := l.n.Province()
	if _, err := l.putKeyset(ctx); err != nil {
		return err
	}
	if tl := l.n.State().TrustList(); tl != nil {
		for id := range tl.Members {
			if id == self {
				continue
			}
			if err := l.grant(ctx, id, false); err != nil {
				return err
			}
		}
	}
	return l.publishHeartbeat(ctx)
}

// grantChanged grants the live content keys to each peer whose keyset
// changed (PeerKeyset) and now names an encryption key other than the one
// last granted to. A peer whose grant fails stays due.
func (l *Link) grantChanged(ctx context.Context) error {
	l.grantMu.Lock()
	due := l.grantDue
	l.grantDue = map[string]bool{}
	l.grantMu.Unlock()
	var first error
	for id := range due {
		if err := l.grant(ctx, id, true); err != nil {
			first = cmp.Or(first, err)
			l.grantMu.Lock()
			l.grantDue[id] = true
			l.grantMu.Unlock()
		}
	}
	return first
}

// grant puts a grant of the live content keys to peer id, if it is an
// active member that has published an encryption key (one that has not
// is granted when its keyset arrives), and, if onlyChanged, only if that
// key is not the one it was last granted to.
func (l *Link) grant(ctx context.Context, id string, onlyChanged bool) error {
	st := l.n.State()
	// The keys are read before the trust list: a content key started
	// because the list took id out of good standing is only ever read
	// together with that list, never sealed to id (contentrekey.go).
	keys := l.n.ContentKeys()
	tl := st.TrustList()
	peer := st.Keyset(id)
	if tl == nil || tl.Members[id].Status != trust.MemberActive || peer == nil || peer.EncKey == nil {
		return nil
	}
	l.grantMu.Lock()
	same := l.granted[id] == peer.EncKID
	l.grantMu.Unlock()
	if onlyChanged && same {
		return nil
	}
	self := l.n.Province()
	g, err := trust.GrantContentKeys(l.n.Signer(), self, id, peer.EncKey, keys, l.n.Now())
	if err != nil {
		return err
	}
	if _, err := l.putState(ctx, federation.Topic{Kind: federation.KindContentKey, Province: self, Peer: id}, []byte(g)); err != nil {
		return err
	}
	l.grantMu.Lock()
	l.granted[id] = peer.EncKID
	l.grantMu.Unlock()
	return nil
}

func (l *Link) publishHeartbeat(ctx context.Context) error {
	st := l.n.State()
	self := l.n.Province()
	hb := trust.Heartbeat{Issuer: self, IssuedAt: l.n.Now().Unix(), RevocationSeq: st.RevocationSeq(self)}
	if ks := st.Keyset(self); ks != nil {
		hb.KeysetVersion = ks.Version
	}
	if ci := l.n.keys.codeIssuer(); ci != nil {
		hb.ContentKeyID = ci.ContentKeyID()
	}
	if tl := st.TrustList(); tl != nil {
		hb.TrustListVersion = tl.Version
	}
	raw, err := l.n.Signer().Sign(trust.TypHeartbeat, hb)
	if err != nil {
		return err
	}
	_, err = l.putState(ctx, federation.Topic{Kind: federation.KindHeartbeat, Province: self}, []byte(raw))
	return err
}

// putKeyset puts the node's newest keyset in the state bucket. The
// keyset is read and put under keysetMu, so of two puts racing (a manual
// rotation's and the periodic one) the later always carries the newer
// keyset: peers refuse an older one as a rollback, and one that only
// ever saw the older would refuse the new key's statements.
func (l *Link) putKeyset(ctx context.Context) (uint64, error) {
	l.keysetMu.Lock()
	defer l.keysetMu.Unlock()
	return l.putState(ctx, federation.Topic{Kind: federation.KindKeyset, Province: l.n.Province()}, []byte(l.n.Keyset()))
}

func (l *Link) putState(ctx context.Context, t federation.Topic, raw []byte) (uint64, error) {
	key, err := t.Key()
	if err != nil {
		return 0, err
	}
	return l.conn.PutState(ctx, key, raw)
}

// publishSnapshot publishes every live revocation of this province as a
// signed snapshot, the catch-up point for peers that missed some. Rows
// are encoded as they are read from the store, 20 bytes an entry (no
// list of entries is ever held), and the manifest is signed once every
// chunk is hashed. Unless forced it does nothing when no revocation
// happened since the last one.
func (l *Link) publishSnapshot(ctx context.Context, force bool) error {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	now := l.n.Now()
	seq, err := l.n.db.LastRevocationSeq(ctx)
	if err != nil {
		return err
	}
	if !force && l.snapped && (seq == l.snapSeq || now.Sub(l.snapTime) < snapshotEvery) {
		return nil
	}
	manifest, body, err := l.encodeSnapshot(ctx, seq, now)
	if err != nil {
		return err
	}
	if err := l.conn.PutSnapshot(ctx, l.n.Province(), []byte(manifest), []byte{'\n'}, body); err != nil {
		return err
	}
	l.snapSeq, l.snapped, l.snapTime = seq, true, now
	l.covered.Store(seq)
	return nil
}

// encodeSnapshot streams the live revocations from the store into a
// snapshot's chunks and signs its manifest.
func (l *Link) encodeSnapshot(ctx context.Context, seq uint64, now time.Time) (manifest string, body []byte, err error) {
	n, err := l.n.db.CountLiveRevocations(ctx, now)
	if err != nil {
		return "", nil, fmt.Errorf("snapshot: %w", err)
	}
	// Room for the count read now, and a few more revoked meanwhile.
	body = make([]byte, 0, (n+n/64+1)*trust.SnapshotEntryLen)
	var w trust.SnapshotEncoder
	err = l.n.db.EachLiveRevocation(ctx, now, func(e store.RevocationEntry) error {
		chunk, err := w.Add(e.JTI, e.Expires.Unix())
		body = append(body, chunk...)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("snapshot: %w", err)
	}
	body = append(body, w.Flush()...)
	manifest, err = l.n.Signer().Sign(trust.TypSnapshot, w.Manifest(l.n.Province(), seq, now.Unix()))
	if err != nil {
		return "", nil, err
	}
	return manifest, body, nil
}
