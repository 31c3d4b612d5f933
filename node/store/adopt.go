package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Published is a revocation statement the province published, as its
// peers hold it: its seq and entries.
type Published struct {
	Seq     uint64
	Entries []RevocationEntry
	// Links names the subjects whose wallet link the statement
	// replaced: those its link markers name (see ReplaceResidentTokens,
	// LinkHolders). An id that names no subject names nothing.
	Links []string
	// LinksBefore bounds the tokens of Links that the statement
	// replaced: those created before it. The time of the restore does:
	// every token the backup holds is older than the statement, and a
	// token made since the restore is newer.
	LinksBefore time.Time
}

// Adoption says what AdoptPublished did.
type Adoption struct {
	Adopted    int    // statements taken back into the outbox as published
	Confirmed  int    // outbox rows already held, now known to be published
	Renumbered int    // pending rows moved above the adopted seqs (below the highest, or at one)
	LastSeq    uint64 // the highest seq in the outbox afterwards
	// Residents counts the residents of the restored database with a
	// code it held live that the adopted statements revoke: their status
	// was changed (or they were deleted) after the backup, and the
	// restored database holds their status from before it. Each is marked
	// StatusUnconfirmed: no code is issued to them until their status is
	// set again.
	Residents int
	// Revoked holds the codes of those residents that were still live
	// and that no adopted statement revokes (issued by the restored node
	// before it reconciled), revoked in a new outbox statement above
	// every adopted seq; nil if there were none.
	Revoked *Revocation
	// Links holds the subjects whose wallet link an adopted statement
	// replaced and whose resident tokens from before it (the backup's)
	// were deleted, sorted.
	Links []string
}

// AdoptPublished takes back revocations this province published that the
// database does not hold, as after a restore from a backup taken before
// they were made. In one transaction, with the audit entries:
//
//   - a statement whose seq the outbox lacks is inserted as published, and
//     its codes are marked revoked (a code the database never saw gets a
//     row without subject or text, so that snapshots carry it until it
//     expires);
//   - an outbox row with that seq and the same entries was published and
//     is marked so;
//   - an outbox row with that seq but other entries was made after the
//     restore and not yet published: it moves above every published seq,
//     so that no seq ever names two statements;
//   - a resident with a code the statements revoke is marked
//     StatusUnconfirmed (see Adoption.Residents), and their other live
//     codes are revoked (Adoption.Revoked): the status that signed them
//     is the backup's;
//   - a subject of a statement's Links, whose wallet link it replaced,
//     loses its resident tokens created before LinksBefore (the old
//     phone's link, back with the backup) and its live phone
//     codes (issued to that link since the restore), as the
//     replacement did (Adoption.Links). A revocation without a marker
//     (a status change, a deletion) revokes no link.
//
// Remember to remove the Restored mark (DeleteMeta) once reconciled.
func (db *DB) AdoptPublished(ctx context.Context, pubs []Published, now time.Time, audit ...AuditEntry) (Adoption, error) {
	const op = "adopt published revocations"
	var a Adoption
	var heldIDs []string
	slices.SortFunc(pubs, func(x, y Published) int { return cmp.Compare(x.Seq, y.Seq) })
	err := db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		a = Adoption{}
		residents := map[string]struct{}{}
		links := map[string]bool{}
		var moved []pendingRow // pending rows that must move
		for _, p := range pubs {
			if p.Seq == 0 || p.Seq > maxInt64 {
				return invalid(op, "seq out of range")
			}
			body, err := encodeEntries(p.Entries)
			if err != nil {
				return err
			}
			var held string
			var published bool
			err = tx.QueryRowContext(ctx, `SELECT entries, published FROM revocations WHERE seq = ?`, int64(p.Seq)).Scan(&held, &published)
			switch {
			case err == sql.ErrNoRows:
			case err != nil:
				return err
			case sameEntries(held, body):
				if !published {
					if _, err := tx.ExecContext(ctx, `UPDATE revocations SET published = 1 WHERE seq = ?`, int64(p.Seq)); err != nil {
						return err
					}
					a.Confirmed++
				}
				continue
			case published:
				return fmt.Errorf("%s: seq %d was published with other entries than the stream holds", op, p.Seq)
			default:
				moved = append(moved, pendingRow{seq: p.Seq, body: held})
				if _, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE seq = ?`, int64(p.Seq)); err != nil {
					return err
				}
				a.Renumbered++
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (seq, entries, created, published) VALUES (?, ?, ?, 1)`,
				int64(p.Seq), body, nanos(now)); err != nil {
				return err
			}
			for _, e := range p.Entries {
				var subject sql.NullString
				err := tx.QueryRowContext(ctx, `UPDATE codes SET revoked = 1 WHERE jti = ? AND revoked = 0 RETURNING subject_id`, e.JTI).Scan(&subject)
				switch {
				case err == sql.ErrNoRows: // unknown, or revoked already
				case err != nil:
					return err
				case subject.Valid:
					residents[subject.String] = struct{}{}
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO codes (jti, kid, issued_at, expires, revoked) VALUES (?, '', 0, ?, 1)
					ON CONFLICT (jti) DO NOTHING`, e.JTI, nanos(e.Expires)); err != nil {
					return err
				}
			}
			if err := revokeLinks(ctx, tx, p, links); err != nil {
				return err
			}
			a.Adopted++
		}
		// Pending rows below the highest adopted seq were made after the
		// restore under seqs peers hold, whether or not a statement
		// adopted here names them: move them, and the displaced rows,
		// after everything, in their order.
		if len(pubs) > 0 {
			below, err := takePendingBelow(ctx, tx, pubs[len(pubs)-1].Seq)
			if err != nil {
				return err
			}
			moved = append(moved, below...)
			a.Renumbered += len(below)
			slices.SortFunc(moved, func(x, y pendingRow) int { return cmp.Compare(x.seq, y.seq) })
		}
		for _, m := range moved {
			if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (seq, entries, created)
				SELECT COALESCE(MAX(seq), 0) + 1, ?, ? FROM revocations`, m.body, nanos(now)); err != nil {
				return err
			}
		}
		heldIDs = slices.Sorted(maps.Keys(residents))
		a.Links = slices.Sorted(maps.Keys(links))
		phone, err := revokeKindOf(ctx, tx, a.Links, false, now)
		if err != nil {
			return err
		}
		held, err := holdResidents(ctx, tx, heldIDs, phone, now)
		if err != nil {
			return err
		}
		a.Residents, a.Revoked = len(heldIDs), held
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&last); err != nil {
			return err
		}
		a.LastSeq = uint64(last)
		return nil
	})
	if err == nil {
		db.issue.forget(heldIDs...)
		db.issue.forget(a.Links...)
	}
	return a, err
}

// pendingRow is an outbox row not yet published: its seq and entries.
type pendingRow struct {
	seq  uint64
	body string
}

// takePendingBelow deletes the pending outbox rows (neither published nor
// set aside) below seq and returns them.
func takePendingBelow(ctx context.Context, tx *sql.Tx, seq uint64) ([]pendingRow, error) {
	return queryAll(ctx, tx, "pending rows below", func(r rowScanner) (pendingRow, error) {
		var p pendingRow
		var s int64
		err := r.Scan(&s, &p.body)
		p.seq = uint64(s)
		return p, err
	}, `DELETE FROM revocations WHERE published = 0 AND poisoned IS NULL AND seq < ? RETURNING seq, entries`, int64(seq))
}

// RevokedAmong returns which of jtis the database holds as revoked codes
// (link markers among them), whatever their expiry: what a restored
// node already held of a statement it takes back.
func (db *DB) RevokedAmong(ctx context.Context, jtis []string) (map[string]bool, error) {
	held := map[string]bool{}
	if len(jtis) == 0 {
		return held, nil
	}
	ids, err := queryAll(ctx, db.r, "revoked among", scanOneString,
		`SELECT jti FROM codes WHERE revoked = 1 AND jti IN (SELECT value FROM json_each(?))`, jsonIDs(jtis))
	for _, id := range ids {
		held[id] = true
	}
	return held, err
}

// LinkHolders lists the subjects holding a resident token (a wallet
// link) created before before: those a restored node's link markers may
// name (Published.Links).
func (db *DB) LinkHolders(ctx context.Context, before time.Time) ([]string, error) {
	return queryAll(ctx, db.r, "link holders", scanOneString,
		`SELECT DISTINCT subject_id FROM tokens WHERE role = 'resident' AND created < ?`, nanos(before))
}

// revokeLinks deletes the resident tokens that p's link markers name,
// created before p.LinksBefore, adding their subjects to links.
func revokeLinks(ctx context.Context, tx *sql.Tx, p Published, links map[string]bool) error {
	if len(p.Links) == 0 || p.LinksBefore.IsZero() {
		return nil
	}
	gone, err := idSet(newPrepTx(ctx, tx), `DELETE FROM tokens WHERE role = 'resident'
		AND subject_id IN (SELECT value FROM json_each(?)) AND created < ? RETURNING subject_id`, jsonIDs(p.Links), nanos(p.LinksBefore))
	maps.Copy(links, gone)
	return err
}

// holdResidents marks the subjects ids StatusUnconfirmed and revokes
// their live codes, appending them to the outbox with revoked (codes
// already marked revoked) as one revocation (nil if there is none).
func holdResidents(ctx context.Context, tx *sql.Tx, ids []string, revoked []RevocationEntry, now time.Time) (*Revocation, error) {
	if len(ids) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE subjects SET status_unconfirmed = 1 WHERE id IN (SELECT value FROM json_each(?))`,
			jsonIDs(ids)); err != nil {
			return nil, err
		}
		entries, err := revokeLiveEntries(newPrepTx(ctx, tx), ids, now)
		if err != nil {
			return nil, err
		}
		revoked = append(revoked, entries...)
	}
	if len(revoked) == 0 {
		return nil, nil
	}
	return appendRevocation(ctx, tx, revoked, now)
}

func encodeEntries(es []RevocationEntry) (string, error) {
	out := make([]outboxEntry, len(es))
	for i, e := range es {
		out[i] = outboxEntry{JTI: e.JTI, Exp: nanos(e.Expires)}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// sameEntries reports whether two outbox bodies revoke the same codes.
// Expiry times travel in whole seconds in statements and in nanoseconds
// in the outbox, so only the code ids are compared.
func sameEntries(a, b string) bool {
	var x, y []outboxEntry
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil || len(x) != len(y) {
		return false
	}
	ids := func(es []outboxEntry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.JTI
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(ids(x), ids(y))
}

// DeleteMeta removes a meta key; removing one that is absent is no error.
func (db *DB) DeleteMeta(ctx context.Context, key string) error {
	return db.write(ctx, "delete meta", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, key)
		return err
	})
}
