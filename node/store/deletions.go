package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MaxSubjectDeletions bounds the subjects one DeleteSubjects deletes: the
// deletions reported only once keys.db's WAL has been truncated for all
// of them, and the wait of the first for that truncation.
const MaxSubjectDeletions = 1000

// Bounds of one transaction of DeleteSubjects. Issuance's group commit
// shares node.db's one writer connection with the deletions and takes
// it in turns with them, so an issuance commit waits behind at most one
// deletion transaction: deletionTxWork, plus the subject under way when
// it ran out, plus the two commits (keys.db's and node.db's, an fsync
// each). A transaction a subject, as before round 25, paid those two
// fsyncs for every subject: 6–13 ms a deletion beside issuance on this
// project's test VM (docs/design-changes.md, "Retention at outbreak
// scale").
const (
	// deletionsPerTx is the most subjects one transaction deletes.
	deletionsPerTx = 64
	// deletionTxWork is how long a transaction goes on taking subjects.
	deletionTxWork = 5 * time.Millisecond
)

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
// MaxSubjectDeletions) as DeleteSubjectErasing deletes one, several in
// one transaction of node.db and one of keys.db, and empties keys.db's
// WAL once for all of them: a truncation makes issuance wait at the key
// gate (keysGate), and a retention pass that deleted a thousand residents
// made it wait a thousand times. A batch over the limit, or with an
// erasure plan lacking its action, limit or maker, or an audit entry
// lacking its time, actor or action, is refused (ErrInvalid) before
// anything is shredded.
//
// The subjects are deleted in the order of dels, up to deletionsPerTx in
// one transaction, fewer once deletionTxWork has passed in it. Each
// subject is judged on its own, in a savepoint of that transaction: its
// status is read and allow (if not nil; it must not touch the database)
// asked, its rows deleted. A refusal, or a failure of that subject's
// statements, rolls back to the savepoint: that subject alone keeps
// everything, the others of the transaction go on. Once the transaction
// has taken its subjects, the data keys of those deleted are shredded in
// one transaction of the key store, and then node.db commits. node.db's
// write lock is held from the first judgement to the commit, so no status
// change can come between a judgement and the shredding: one committed
// before the transaction holds the subject (its key and record stay), one
// after finds no subject. A judgement made once for the whole batch, as it
// starts, let a status set red meanwhile be ignored for as long as the
// batch took.
//
// Once the batch is done, keys.db's WAL is truncated, and only then is
// deleted told of each deletion, in order: committed (rev: the codes it
// revoked, nil if none), refused with nothing deleted (err: allow's
// refusal, or ErrNotFound for a subject not there), or failed (err). A
// subject that failed alone was rolled back alone, and the batch went on;
// the first such error is returned once every deletion is reported. A
// failure of the transaction itself (a savepoint that cannot be rolled
// back, or either commit) fails every deletion of it that was to commit,
// stops the batch (the deletions after it are not tried) and is returned.
// Should the key store's commit succeed and node.db's then fail, those
// subjects have lost their keys but not their rows: Subject reports them
// ErrNotFound, and deleting them again finishes the job. If ctx ends, the
// transaction under way commits what it has deleted and the batch stops
// with ctx's error. An error from deleted stops the reports and is
// returned.
func (db *DB) DeleteSubjects(ctx context.Context, now time.Time, allow func(status string, unconfirmed bool) error, dels []SubjectDeletion, deleted func(d SubjectDeletion, rev *Revocation, err error) error) error {
	if err := checkDeletions(now, dels); err != nil {
		return err
	}
	outcomes := make([]deletionOutcome, 0, len(dels))
	var failed, txErr error
	keysDeleted := false
	for len(outcomes) < len(dels) && txErr == nil {
		var outs []deletionOutcome
		var shredding bool
		outs, shredding, txErr = db.deleteSubjectsTx(ctx, now, allow, dels[len(outcomes):])
		outcomes = append(outcomes, outs...)
		// A failed transaction may have shredded keys before node.db
		// failed to commit.
		keysDeleted = keysDeleted || shredding
		for _, o := range outs {
			if failed == nil && o.failed() {
				failed = o.err
			}
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
	if failed != nil {
		return failed
	}
	return truncErr
}

// checkDeletions refuses a batch of DeleteSubjects that could fail
// part-way for want of something its caller should have given.
func checkDeletions(now time.Time, dels []SubjectDeletion) error {
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
		if err := checkAudit(d.Audit); err != nil {
			return err
		}
	}
	return nil
}

// deletionOutcome is what became of one deletion of DeleteSubjects.
type deletionOutcome struct {
	rev     *Revocation
	err     error
	refused bool // err is allow's refusal or ErrNotFound: nothing was wrong
}

// failed reports whether the deletion failed, rather than committed or
// was refused.
func (o deletionOutcome) failed() bool { return o.err != nil && !o.refused }

// deleteSubjectsTx deletes a prefix of dels (at least its first) in one
// transaction of node.db, as DeleteSubjects says, and returns that
// prefix's outcomes, in order; whether the key store's transaction was
// tried, so that its keys may be gone; and the error of the transaction
// itself, if it failed, which each of its deletions that was to commit
// carries too.
func (db *DB) deleteSubjectsTx(ctx context.Context, now time.Time, allow func(status string, unconfirmed bool) error, dels []SubjectDeletion) (outs []deletionOutcome, shredding bool, err error) {
	if db.beforeDeletionTx != nil {
		db.beforeDeletionTx(dels[0].ID)
	}
	// The wait for the writer ends with ctx; the transaction does not:
	// it commits what it has deleted when ctx ends (below).
	conn, err := db.w.Conn(ctx)
	if err != nil {
		err = wrap(deleteSubjectOp, err)
		return []deletionOutcome{{err: err}}, false, err
	}
	defer conn.Close()
	txCtx := context.WithoutCancel(ctx)
	tx, err := conn.BeginTx(txCtx, nil)
	if err != nil {
		err = wrap(deleteSubjectOp, err)
		return []deletionOutcome{{err: err}}, false, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	p := newPrepTx(txCtx, tx)
	start := time.Now()
	// Dropped from the issuance cache now, and again by the shredding as
	// it commits: no read after that can put a sealed key back. Once a
	// transaction, not once a subject: each drop keeps every read under
	// way from filling the cache.
	db.issue.forget(deletionIDs(dels[:min(len(dels), db.deletionsPerTx)])...)
	var shred []string // the subjects deleted, whose keys go
	for i, d := range dels {
		if i > 0 && (i >= db.deletionsPerTx || time.Since(start) >= db.deletionTxWork) {
			break
		}
		if db.beforeDeletion != nil {
			db.beforeDeletion(d.ID)
		}
		if err := ctx.Err(); err != nil {
			if i == 0 {
				return []deletionOutcome{{err: err}}, false, err
			}
			break
		}
		o, err := db.deleteSubjectSaved(p, d, now, allow)
		outs = append(outs, o)
		if err != nil {
			return failTx(outs, err), false, err
		}
		if o.err == nil {
			shred = append(shred, d.ID)
		}
	}
	if len(shred) > 0 {
		// Last, with the write lock still held: a status change cannot
		// commit between the judgements above and the shredding.
		if err := db.deleteSubjectKeys(txCtx, shred); err != nil {
			return failTx(outs, err), true, err
		}
	}
	err = db.deletionCommitFault
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		err = wrap(deleteSubjectOp, err)
		return failTx(outs, err), len(shred) > 0, err
	}
	return outs, len(shred) > 0, nil
}

// deletionIDs are the subjects of dels.
func deletionIDs(dels []SubjectDeletion) []string {
	out := make([]string, len(dels))
	for i, d := range dels {
		out[i] = d.ID
	}
	return out
}

// failTx gives err to each deletion of outs that was to commit with its
// transaction, which failed.
func failTx(outs []deletionOutcome, err error) []deletionOutcome {
	for i, o := range outs {
		if o.err == nil {
			outs[i] = deletionOutcome{err: err}
		}
	}
	return outs
}

// deleteSubjectSaved deletes d's subject (deleteSubjectRows) inside a
// savepoint of p's transaction, rolled back if the subject is refused or
// its deletion fails: its outcome says which. err is a failure of the
// savepoint itself, which leaves the transaction unusable.
func (db *DB) deleteSubjectSaved(p *prepTx, d SubjectDeletion, now time.Time, allow func(status string, unconfirmed bool) error) (o deletionOutcome, err error) {
	if _, err := p.exec(`SAVEPOINT deletion`); err != nil {
		return deletionOutcome{err: wrap(deleteSubjectOp, err)}, wrap(deleteSubjectOp, err)
	}
	rev, refused, failed := db.deleteSubjectRows(p, d, now, allow)
	switch {
	case refused != nil:
		o = deletionOutcome{err: refused, refused: true}
	case failed != nil:
		o = deletionOutcome{err: wrap(deleteSubjectOp, failed)}
	default:
		o = deletionOutcome{rev: rev}
	}
	if o.err != nil {
		if _, err := p.exec(`ROLLBACK TO deletion`); err != nil {
			return o, fmt.Errorf("store: %s: rolling back %s: %w", deleteSubjectOp, o.err, err)
		}
	}
	if _, err := p.exec(`RELEASE deletion`); err != nil {
		return o, wrap(deleteSubjectOp, err)
	}
	return o, nil
}

// deleteSubjectRows judges d's subject with allow (if not nil), revokes
// its live codes and deletes its rows, queueing d's erasures and
// appending d's audit entries, in p's transaction; its data key is the
// caller's to shred. refused is allow's refusal or ErrNotFound, with
// nothing changed; err a failure, after which the caller rolls back what
// was changed.
func (db *DB) deleteSubjectRows(p *prepTx, d SubjectDeletion, now time.Time, allow func(status string, unconfirmed bool) error) (rev *Revocation, refused, err error) {
	row, err := p.queryRow(`SELECT status, status_unconfirmed FROM subjects WHERE id = ?`, d.ID)
	if err != nil {
		return nil, nil, err
	}
	var status string
	var unconfirmed bool
	if err := row.Scan(&status, &unconfirmed); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, wrap(deleteSubjectOp, notFound("subject", nil)), nil
		}
		return nil, nil, err
	}
	if allow != nil {
		if err := allow(status, unconfirmed); err != nil {
			return nil, fmt.Errorf("store: %s: %w", deleteSubjectOp, err), nil
		}
	}
	entries, err := revokeLiveEntries(p, []string{d.ID}, now)
	if err != nil {
		return nil, nil, err
	}
	if len(entries) > 0 {
		if rev, err = appendRevocation(p.ctx, p.tx, entries, now); err != nil {
			return nil, nil, err
		}
	}
	for _, q := range []string{
		detachCodesSQL,
		`DELETE FROM tokens WHERE subject_id = ?`,
		`DELETE FROM consents WHERE subject_id = ?`,
		`DELETE FROM appeals WHERE subject_id = ?`,
		`DELETE FROM subjects WHERE id = ?`,
	} {
		if _, err := p.exec(q, d.ID); err != nil {
			return nil, nil, err
		}
	}
	if d.Plan != nil {
		if err := queueErasures(p, d.ID, d.Plan); err != nil {
			return nil, nil, err
		}
	}
	return rev, nil, appendAudit(p, d.Audit)
}
