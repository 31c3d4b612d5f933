package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// reconcile brings a node whose database was restored from a backup
// (hcnode restore sets store.Restored) level with what the federation
// already holds from it, before the link publishes anything:
//
//   - its own revocations published after the backup are read back from
//     the stream, verified, and adopted into the outbox as published, so
//     that codes revoked then stay revoked (here and in every snapshot)
//     and no revocation seq is used for a second statement;
//   - the residents those revocations concern are held: their status is
//     the backup's, so no code is issued to them until it is set again
//     (store.Subject.StatusUnconfirmed);
//   - the wallet links replaced after the backup, which those
//     revocations name to this node alone (linkmarker.go), are revoked
//     again: the backup holds the lost phone's link as valid;
//   - its keyset is signed again with a version above the one in the
//     federation's bucket, which peers would otherwise refuse as a
//     rollback, and every key that one marks compromised stays
//     compromised (the backup may predate the compromise); its keys the
//     backup lacks stay listed, public halves only, until they expire.
//
// On success the mark is removed; on error it stays, and the link tries
// again before publishing.
func (l *Link) reconcile(ctx context.Context) error {
	n := l.n
	mark, err := n.db.GetMeta(ctx, store.Restored)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	restoredAt, err := time.Parse(time.RFC3339Nano, mark)
	if err != nil {
		// Not written by Restore: every resident token is then taken as
		// the backup's, a link made since at worst made again.
		restoredAt = n.now()
	}
	held, err := l.heldKeyset(ctx)
	if err != nil {
		return err
	}
	keys := n.keys.verifyKeys(held)
	raws, err := l.conn.OwnRevocations(ctx)
	if err != nil {
		return err
	}
	local, err := n.db.LastRevocationSeq(ctx)
	if err != nil {
		return err
	}
	adoptAbove, err := publishedUpTo(ctx, n.db, local)
	if err != nil {
		return err
	}
	var pubs []store.Published
	var entries []trust.RevocationEntry
	var refused int
	top := adoptAbove
	for _, raw := range raws {
		rev, err := trust.ParseRevocation(string(raw), n.cfg.Province, keys)
		if err != nil {
			refused++ // not ours, or signed by a key neither held nor listed: never adopted
			continue
		}
		top = max(top, rev.Seq)
		if rev.Seq <= adoptAbove {
			continue
		}
		p := store.Published{Seq: rev.Seq, LinksBefore: restoredAt}
		for _, e := range rev.Entries {
			p.Entries = append(p.Entries, store.RevocationEntry{JTI: e.JTI, Expires: time.Unix(e.Expires, 0)})
		}
		pubs = append(pubs, p)
		entries = append(entries, rev.Entries...)
	}
	above, aboveEntries, err := l.federationFloor(ctx, keys, top, restoredAt)
	if err != nil {
		return err
	}
	pubs, entries = append(pubs, above...), append(entries, aboveEntries...)
	if err := n.access.links.nameLinks(pubs, func() ([]string, error) {
		return n.db.LinkHolders(ctx, restoredAt)
	}); err != nil {
		return err
	}
	audit := []store.AuditEntry{newAuditEntry(n.now(), "system", "restore.reconcile", "",
		map[string]any{"adopted": len(pubs), "refused": refused, "local_seq": local, "above_stream": len(above)})}
	unpaired, err := unpairedScanners(ctx, n.db)
	if err != nil {
		return err
	}
	for _, id := range unpaired {
		audit = append(audit, newAuditEntry(n.now(), "system", "scanner.remove", id, map[string]any{"cause": "restore"}))
	}
	a, err := n.db.AdoptPublished(ctx, pubs, n.now(), audit...)
	if err != nil {
		return err
	}
	if a.LastSeq > 0 {
		n.state.RevokeOwn(a.LastSeq, entries, n.now())
	}
	n.residents.revoked(ctx, a.Revoked) // the held residents' codes, and the revoked links' phone codes, issued since the restore
	for _, id := range a.Links {
		n.access.forgetResident(id)
	}
	var floor uint64
	if held != nil {
		floor = held.Version
	}
	if err := n.keys.resign(ctx, held); err != nil {
		return err
	}
	if err := n.db.DeleteMeta(ctx, store.UnpairedScanners); err != nil {
		return err
	}
	if err := n.db.DeleteMeta(ctx, store.Restored); err != nil {
		return err
	}
	l.log.Info("restored database reconciled with the federation", "adopted", a.Adopted, "confirmed", a.Confirmed,
		"renumbered", a.Renumbered, "refused", refused, "revocation_seq", a.LastSeq, "keyset_above", floor, "links_revoked", len(a.Links), "scanners_unpaired", len(unpaired))
	if a.Residents > 0 {
		// Their codes stay revoked, and their status is the backup's:
		// they are held (no code issued) until someone sets it anew.
		l.log.Warn("restored database: residents' status changed after the backup, and it holds their earlier one; "+
			"no code is issued to them (status_unconfirmed) until their status is set again: "+
			"send the health authority's status changes made since the backup again (hcnode statuses)",
			"held", a.Residents)
	}
	return nil
}

// publishedUpTo is the seq up to which the restored outbox, whose last
// seq is local, holds only statements that were published: below its
// first pending revocation. A pending one may have been committed after
// the restore, before reconciliation (the node serves while it cannot
// reach NATS), under a seq the federation already holds from after the
// backup: the statement the federation holds under it must be adopted,
// and the pending one moved above it (store.AdoptPublished), or peers
// would skip it as held.
func publishedUpTo(ctx context.Context, db *store.DB, local uint64) (uint64, error) {
	pending, err := db.PendingRevocations(ctx)
	if err != nil || len(pending) == 0 {
		return local, err
	}
	return min(local, pending[0].Seq-1), nil
}

// heldKeyset is this province's keyset as the federation's bucket holds
// it, verified with the province's root key; nil if there is none.
func (l *Link) heldKeyset(ctx context.Context) (*trust.VerifiedKeyset, error) {
	key, err := federation.Topic{Kind: federation.KindKeyset, Province: l.n.Province()}.Key()
	if err != nil {
		return nil, err
	}
	raw, _, err := l.conn.GetState(ctx, key)
	if errors.Is(err, federation.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ks, err := trust.ParseKeyset(string(raw), l.n.Province(), l.n.keys.rootPublic())
	if err != nil {
		return nil, fmt.Errorf("own keyset in the federation's bucket does not verify with the root key held: %w", err)
	}
	return ks, nil
}

// unpairedScanners are the ids of the scanners the restore removed
// (hcnode restore --unpair-scanners), as db's meta row keeps them, whose
// removal reconciliation audits.
func unpairedScanners(ctx context.Context, db *store.DB) ([]string, error) {
	v, err := db.GetMeta(ctx, store.UnpairedScanners)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return nil, fmt.Errorf("the scanners the restore removed (%s) are not a list of ids: %w", store.UnpairedScanners, err)
	}
	return ids, nil
}
