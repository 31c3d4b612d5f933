package node

import (
	"context"
	"errors"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// A restored node takes back the revocations it published after the
// backup from the revocation stream (reconcile). The stream keeps a
// statement only for streamMaxAge (a code's longest life and a day), and
// a stream lost and created again holds none: a backup older than that,
// or a lost stream, leaves the node's last seq below the one every peer
// holds of it. Peers skip a statement whose seq they hold, so each
// revocation the node made next would be skipped everywhere, silently,
// until its seq passed the old one; and its heartbeats, naming a seq
// peers hold, would keep its revocations current there meanwhile.
//
// So reconciliation also reads the two statements of its own that the
// federation keeps for good, its latest heartbeat and its latest
// revocation snapshot, each verified with its own keys, and never numbers
// a statement at or below the seq either names (federationFloor). The
// snapshot's entries are adopted with its seq (the revocations of live
// codes it names, link markers included), but for those the restored
// database holds already: a marker made before the backup names a link
// the backup already holds replaced; a heartbeat's seq alone is
// adopted with no entries, and peers that hold less see a gap and fetch
// the node's snapshot.

// federationFloor returns the statements to adopt so that the outbox
// continues above every seq the federation holds of this province: its
// latest snapshot, with its entries the database does not hold revoked
// (notHeld), if its seq is above top (the highest
// seq reconcile has, restored or adopted from the stream), and its latest
// heartbeat's seq, with no entries, if that is higher still; none when
// neither is. Statements that do not verify with keys are ignored, as a
// stream statement that does not verify is.
func (l *Link) federationFloor(ctx context.Context, keys map[string]*trust.Key, top uint64, linksBefore time.Time) ([]store.Published, []trust.RevocationEntry, error) {
	self := l.n.Province()
	var hb trust.Heartbeat
	key, err := federation.Topic{Kind: federation.KindHeartbeat, Province: self}.Key()
	if err != nil {
		return nil, nil, err
	}
	raw, _, err := l.conn.GetState(ctx, key)
	switch {
	case errors.Is(err, federation.ErrNotFound):
	case err != nil:
		return nil, nil, err
	case trust.ParseSigned(string(raw), trust.TypHeartbeat, self, keys, &hb) != nil || hb.Issuer != self:
		hb = trust.Heartbeat{}
	}
	var snap *trust.RevocationSnapshot
	bundle, err := l.conn.GetSnapshot(ctx, self)
	switch {
	case errors.Is(err, federation.ErrNotFound), errors.Is(err, federation.ErrMalformed), errors.Is(err, federation.ErrTooLarge):
		// none, or none this node could have stored: the heartbeat decides
	case err != nil:
		return nil, nil, err
	default:
		if snap, err = trust.ParseRevocationSnapshot(bundle, self, keys); err != nil {
			snap = nil
		}
	}
	var out []store.Published
	var entries []trust.RevocationEntry
	if snap != nil && snap.Seq > top {
		p := store.Published{Seq: snap.Seq, LinksBefore: linksBefore}
		if entries, err = l.notHeld(ctx, snap.Entries()); err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			p.Entries = append(p.Entries, store.RevocationEntry{JTI: e.JTI, Expires: time.Unix(e.Expires, 0)})
		}
		out, top = append(out, p), snap.Seq
	}
	if hb.RevocationSeq > top {
		out = append(out, store.Published{Seq: hb.RevocationSeq})
	}
	return out, entries, nil
}

// notHeld drops from a snapshot's entries the codes the restored
// database holds revoked. A snapshot lists every live revocation, those
// made before the backup too; among them the link marker of a wallet
// link replaced before the backup, which adopted anew would revoke the
// resident's links from before the restore: the new one, which the
// backup holds and the resident uses, with them.
func (l *Link) notHeld(ctx context.Context, entries []trust.RevocationEntry) ([]trust.RevocationEntry, error) {
	jtis := make([]string, len(entries))
	for i, e := range entries {
		jtis[i] = e.JTI
	}
	held, err := l.n.db.RevokedAmong(ctx, jtis)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if !held[e.JTI] {
			out = append(out, e)
		}
	}
	return out, nil
}
