package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrAuditBroken is wrapped by every *AuditError: the audit chain does not
// verify.
var ErrAuditBroken = errors.New("audit chain broken")

// AuditError names the first entry at which the audit chain fails to
// verify, and how.
type AuditError struct {
	Seq    uint64 // the first bad (or missing) entry
	Reason string
}

// Error implements error.
func (e *AuditError) Error() string {
	return fmt.Sprintf("store: audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Unwrap lets errors.Is(err, ErrAuditBroken) match.
func (e *AuditError) Unwrap() error { return ErrAuditBroken }

// VerifyAudit recomputes the chain and reports the first broken link:
// an edited, deleted, reordered or truncated entry, or oldest entries
// deleted other than by PruneAudit.
//
// The chain starts at the anchor PruneAudit left (the genesis value before
// any prune): the first entry must follow it in seq and link to its hash,
// and the newest audit.prune entry in the chain must name that very
// anchor, so an anchor moved to hide a deletion is reported too.
//
// It returns how many entries verified before the first failure (all of
// them on success) and, for a broken chain, an *AuditError wrapping
// ErrAuditBroken. The whole check reads one snapshot, so appends running
// meanwhile do not disturb it.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	const op = "verify audit"
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	q := func(query string, args ...any) *sql.Row { return tx.QueryRowContext(ctx, query, args...) }
	head, anchor, err := readAuditMarks(q)
	if err != nil {
		return 0, wrap(op, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit ORDER BY seq`)
	if err != nil {
		return 0, wrap(op, err)
	}
	defer rows.Close()
	w := newAuditWalk(anchor)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return w.count(), wrap(op, err)
		}
		if err := w.step(e); err != nil {
			return w.count(), err
		}
	}
	if err := rows.Err(); err != nil {
		return w.count(), wrap(op, err)
	}
	n, end := w.count(), w.next-1
	switch {
	case head.seq > end:
		return n, &AuditError{Seq: end + 1, Reason: fmt.Sprintf("log truncated: head is seq %d", head.seq)}
	case head.seq < end:
		return int(max(head.seq, anchor.seq) - anchor.seq), &AuditError{Seq: head.seq + 1, Reason: "entries beyond the recorded head"}
	case !bytes.Equal(head.hash, w.last):
		return max(n-1, 0), &AuditError{Seq: head.seq, Reason: "last entry does not match the recorded head"}
	case w.pruned.seq != anchor.seq || !bytes.Equal(w.pruned.hash, anchor.hash):
		return 0, &AuditError{Seq: anchor.seq + 1, Reason: fmt.Sprintf(
			"anchor at seq %d is not the one the last audit.prune entry recorded (seq %d)", anchor.seq, w.pruned.seq)}
	}
	return n, nil
}

// auditWalk follows the chain entry by entry from a mark: the anchor, or
// the genesis value.
type auditWalk struct {
	from   auditMark
	next   uint64    // the seq the next entry must have
	last   []byte    // the hash the next entry must link to
	pruned auditMark // the anchor named by the newest audit.prune entry seen
}

func newAuditWalk(from auditMark) *auditWalk {
	return &auditWalk{from: from, next: from.seq + 1, last: from.hash, pruned: auditMark{0, auditGenesis}}
}

// count is how many entries verified so far.
func (w *auditWalk) count() int { return int(w.next - w.from.seq - 1) }

// step checks that e is the next entry of the chain.
func (w *auditWalk) step(e AuditEntry) error {
	first := w.next == w.from.seq+1
	switch {
	case first && e.Seq < w.next:
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("entry at or before the anchor (seq %d)", w.from.seq)}
	case e.Seq != w.next:
		return &AuditError{Seq: w.next, Reason: "entry missing or out of order"}
	case first && !bytes.Equal(e.Prev, w.last):
		return &AuditError{Seq: e.Seq, Reason: "first entry does not link to the anchor"}
	case !bytes.Equal(e.Prev, w.last):
		return &AuditError{Seq: e.Seq, Reason: "link to the previous entry broken"}
	case !bytes.Equal(auditHash(e), e.Hash):
		return &AuditError{Seq: e.Seq, Reason: "entry altered"}
	}
	if e.Actor == auditPruneActor && e.Action == auditPruneAction {
		m, err := parseAuditPruned(e.Detail)
		if err != nil || m.seq >= e.Seq {
			return &AuditError{Seq: e.Seq, Reason: "audit.prune entry malformed"}
		}
		w.pruned = m
	}
	w.next, w.last = e.Seq+1, e.Hash
	return nil
}
