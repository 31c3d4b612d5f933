package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hcfed/hcfed/federation"
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

	keysKick chan struct{}
	revKick  chan struct{}
	snapKick chan struct{}

	// Republish is how often everything is published again even without a
	// change, so that a peer that missed a value (or whose KV entry was
	// clobbered) converges. Default 30 s.
	Republish time.Duration

	snapMu   sync.Mutex
	snapSeq  uint64 // seq of the last snapshot published
	snapped  bool
	snapTime time.Time // when it was published
}

// snapshotEvery bounds how often a snapshot of every live revocation is
// signed and uploaded (megabytes in an outbreak). Deltas carry each
// revocation at once; the snapshot is the catch-up point, and a peer that
// needs a fresher one asks for it.
const snapshotEvery = time.Minute

// NewLink makes the outbound half of a node's federation link and
// attaches it to the node.
func NewLink(n *Node, conn *federation.Conn, log *slog.Logger) *Link {
	if log == nil {
		log = n.log
	}
	l := &Link{n: n, conn: conn, log: log, Republish: 30 * time.Second,
		keysKick: make(chan struct{}, 1), revKick: make(chan struct{}, 1), snapKick: make(chan struct{}, 1)}
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

// PeerKeyset is called when a peer's keyset changed: it may have a new
// encryption key, so grants are sent again.
func (l *Link) PeerKeyset(string) { kick(l.keysKick) }

// SnapshotRequested asks for a fresh revocation snapshot to be published.
func (l *Link) SnapshotRequested(ctx context.Context) error {
	return l.publishSnapshot(ctx, true)
}

// Run publishes until ctx ends. It drains the outbox first, so a node that
// crashed after committing a revocation publishes it on restart.
func (l *Link) Run(ctx context.Context) {
	kick(l.keysKick)
	kick(l.revKick)
	tick := time.NewTicker(l.Republish)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.keysKick:
			l.report(l.publishKeys(ctx), "keys")
		case <-l.revKick:
			if err := l.drainOutbox(ctx); err != nil {
				l.report(err, "revocations")
				retry.Reset(500 * time.Millisecond)
			}
		case <-l.snapKick:
			l.report(l.publishSnapshot(ctx, false), "snapshot")
		case <-retry.C:
			kick(l.revKick)
		case <-tick.C:
			kick(l.keysKick)
			kick(l.revKick)
			kick(l.snapKick)
		}
	}
}

func (l *Link) report(err error, what string) {
	if err != nil && !errorsIsCanceled(err) {
		l.log.Warn("federation publish failed; will retry", "what", what, "err", err)
	}
}

// publishKeys puts the keyset, a grant of the live content keys to every
// member that has published an encryption key, and a heartbeat.
func (l *Link) publishKeys(ctx context.Context) error {
	self := l.n.Province()
	ks := l.n.Keyset()
	if _, err := l.putState(ctx, federation.Topic{Kind: federation.KindKeyset, Province: self}, []byte(ks)); err != nil {
		return err
	}
	now := l.n.Now()
	signer := l.n.Signer()
	cks := l.n.ContentKeys()
	if tl := l.n.State().TrustList(); tl != nil {
		for id, m := range tl.Members {
			if id == self || m.Status != trust.MemberActive {
				continue
			}
			peer := l.n.State().Keyset(id)
			if peer == nil || peer.EncKey == nil {
				continue // granted when its keyset arrives
			}
			g, err := trust.GrantContentKeys(signer, self, id, peer.EncKey, cks, now)
			if err != nil {
				return err
			}
			if _, err := l.putState(ctx, federation.Topic{Kind: federation.KindContentKey, Province: self, Peer: id}, []byte(g)); err != nil {
				return err
			}
		}
	}
	return l.publishHeartbeat(ctx)
}

func (l *Link) publishHeartbeat(ctx context.Context) error {
	st := l.n.State()
	self := l.n.Province()
	hb := trust.Heartbeat{Issuer: self, IssuedAt: l.n.Now().Unix(), RevocationSeq: st.RevocationSeq(self)}
	if ks := st.Keyset(self); ks != nil {
		hb.KeysetVersion = ks.Version
	}
	if ci := l.n.issuer.Load(); ci != nil {
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

func (l *Link) putState(ctx context.Context, t federation.Topic, raw []byte) (uint64, error) {
	key, err := t.Key()
	if err != nil {
		return 0, err
	}
	return l.conn.PutState(ctx, key, raw)
}

// drainOutbox signs and publishes every revocation not yet acknowledged,
// in seq order, marking each published only after JetStream's ack.
func (l *Link) drainOutbox(ctx context.Context) error {
	pending, err := l.n.db.PendingRevocations(ctx)
	if err != nil {
		return err
	}
	l.n.metrics.OutboxPending.Set(float64(len(pending)))
	if len(pending) == 0 {
		return nil
	}
	signer := l.n.Signer()
	for _, r := range pending {
		raw, err := signer.Sign(trust.TypRevocation, trust.Revocation{Issuer: l.n.Province(), Seq: r.Seq,
			IssuedAt: r.Created.Unix(), Entries: toTrustEntries(r.Entries)})
		if err != nil {
			return err
		}
		if err := l.conn.PublishRevocation(ctx, l.n.Province(), r.Seq, []byte(raw)); err != nil {
			return err
		}
		if err := l.n.db.MarkPublished(ctx, r.Seq); err != nil {
			return err
		}
		l.n.metrics.OutboxPending.Dec()
	}
	kick(l.snapKick)
	return nil
}

// publishSnapshot publishes every live revocation of this province as one
// signed statement, the catch-up point for peers that missed some. Unless
// forced it does nothing when no revocation happened since the last one.
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
	es, err := l.n.db.LiveRevocations(ctx, now)
	if err != nil {
		return err
	}
	raw, err := l.n.Signer().Sign(trust.TypSnapshot, trust.RevocationSnapshot{Issuer: l.n.Province(), Seq: seq,
		IssuedAt: now.Unix(), Entries: toTrustEntries(es)})
	if err != nil {
		return err
	}
	if err := l.conn.PutSnapshot(ctx, l.n.Province(), []byte(raw)); err != nil {
		return err
	}
	l.snapSeq, l.snapped, l.snapTime = seq, true, now
	return nil
}
