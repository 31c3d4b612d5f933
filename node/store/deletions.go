package store

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// MaxSubjectDeletions bounds the subjects one DeleteSubjects deletes: its
// key store transaction, and the wait of a deletion at its end for the
// batch's truncation of keys.db's WAL.
const MaxSubjectDeletions = 1000

// deleteSubjectOp names a subject's deletion in errors.
const deleteSubjectOp = "delete subject"

// SubjectDeletion is one deletion of DeleteSubjects: the subject, the
// erasures queued with it (Plan, nil for none) and the audit entries
// appended in its transaction.
type SubjectDeletion struct {
	ID    string
	Plan  *ErasurePlan
	Audit []AuditEntry
}

// DeleteSubjects deletes the subjects of dels (at most
// MaxSubjectDeletions) as DeleteSubjectErasing deletes one, but empties
// keys.db's WAL once for all of them instead of once each: a truncation
// makes issuance wait at the key gate (keysGate), and a retention pass
// that deleted a thousand residents made it wait a thousand times. A
// batch over the limit, or with an erasure plan lacking its action, limit
// or maker, is refused (ErrInvalid) before anything is shredded.
//
// Each deletion is one transaction of node.db, in the order of dels. It
// reads the subject's status and asks allow (if not nil; it must not
// touch the database), deletes the rows, and shreds the data key in the
// key store just before it commits. node.db's write lock is held
// throughout, so no status change can come between allow's judgement and
// the deletion: one committed before it holds the subject (its key and
// record stay), one after finds no subject. A judgement made once for
// the whole batch, as it starts, let a status set red meanwhile be
// ignored for as long as the batch took.
//
// Once the batch is done, keys.db's WAL is truncated, and only then is
// deleted told of each deletion, in order: committed (rev: the codes it
// revoked, nil if none), refused with nothing deleted (err: allow's
// refusal, or ErrNotFound for a subject not there), or failed (err: its
// transaction's). A failed transaction stops the batch: the deletions
// after it are not tried, and its error is returned. Should the key
// store's commit succeed and node.db's then fail, the subject has lost
// its key but not its rows: Subject reports it ErrNotFound, and deleting
// it again finishes the job. An error from deleted stops the reports and
// is returned.
func (db *DB) DeleteSubjects(ctx context.Context, now time.Time, allow func(status string, unconfirmed bool) error, dels []SubjectDeletion, deleted func(d SubjectDeletion, rev *Revocation, err error) error) error {
	const op = deleteSubjectOp
	switch {
	case now.IsZero():
		return invalid(op, "zero time")
	case len(dels) > MaxSubjectDeletions:
		return invalid(op, fmt.Sprintf("%d subjects in one batch, limit %d", len(dels), MaxSubjectDeletions))
	}
	for _, d := range dels {
		if p := d.Plan; p != nil && (p.Make == nil || p.Action == "" || p.Limit <= 0) {
			return invalid(op, "erasure plan without action, limit or maker")
		}
	}
	type outcome struct {
		rev *Revocation
		err error
	}
	outcomes := make([]outcome, 0, len(dels))
	var failed error
	keysDeleted := false
	for _, d := range dels {
		if db.beforeDeletion != nil {
			db.beforeDeletion(d.ID)
		}
		rev, refused, err := db.deleteSubjectRows(ctx, d, now, allow)
		outcomes = append(outcomes, outcome{rev, cmp.Or(refused, err)})
		// A failed transaction may have shredded the key before node.db
		// failed to commit.
		keysDeleted = keysDeleted || refused == nil
		if err != nil {
			failed = err
			break
		}
	}
	// The keys deleted are purged from the WAL before any deletion is
	// reported; a truncation that failed or found the file busy is
	// retried by FinishShredding (KeysWALPending). It runs even if ctx
	// has ended (a shutdown during a retention pass, a resident who
	// closed the page): the deletions committed stand, and were reported
	// with their keys' old frames still in keys.db-wal. Its wait is
	// bounded without ctx (checkpointKeys).
	var truncErr error
	if keysDeleted {
		truncErr = db.truncateKeysWAL(context.WithoutCancel(ctx))
	}
	for i, o := range outcomes {
		if err := deleted(dels[i], o.rev, o.err); err != nil {
			return err
		}
	}
	return cmp.Or(failed, truncErr)
}
