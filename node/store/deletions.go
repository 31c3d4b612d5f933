package store

import (
	"context"
	"errors"
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
// allow (if not nil) judges each subject's status first, as
// DeleteSubjectIf does, all of them as the batch starts: a status
// changed while the batch runs does not stop a deletion, as it does not
// stop one DeleteSubjectIf has begun (the key may be gone already), and
// the batch's length is how long that may be (MaxSubjectDeletions
// transactions). Then the data keys of the subjects it allows are
// shredded in one transaction of the key store and its WAL is truncated;
// only then is each deletion committed in node.db, a transaction each,
// in the order of dels. deleted is told of each deletion, in that order,
// once it is committed (rev: the codes it revoked, nil if none), refused
// with nothing deleted (err: allow's refusal, or ErrNotFound for a
// subject not there), or failed (err: its transaction's). An error from
// deleted, or a failed transaction, stops the batch and is returned: the
// subjects after it have lost their keys but not their rows, Subject
// reports them ErrNotFound, and deleting them again finishes the job, as
// after DeleteSubject's own failure.
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
	refused, shred, err := db.judgeDeletions(ctx, allow, dels)
	if err != nil {
		return err
	}
	// Dropped from the issuance cache now, and again by the shredding as
	// it commits: no read after that can put a sealed key back.
	for _, id := range shred {
		db.issue.forget(id)
	}
	if err := db.shredSubjectKeys(ctx, shred); err != nil {
		return err
	}
	for i, d := range dels {
		if err := refused[i]; err != nil {
			if err := deleted(d, nil, err); err != nil {
				return err
			}
			continue
		}
		rev, err := db.deleteSubjectRows(ctx, d.ID, now, d.Plan, d.Audit)
		if derr := deleted(d, rev, err); derr != nil {
			return derr
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// judgeDeletions reads the status of each subject of dels and asks allow
// (if not nil) about it: refused holds, at each subject's index in dels,
// allow's refusal, ErrNotFound or nil; shred the subjects whose keys go.
func (db *DB) judgeDeletions(ctx context.Context, allow func(status string, unconfirmed bool) error, dels []SubjectDeletion) (refused []error, shred []string, err error) {
	const op = deleteSubjectOp
	ids := make([]string, len(dels))
	for i, d := range dels {
		ids[i] = d.ID
	}
	type state struct {
		status      string
		unconfirmed bool
	}
	states := make(map[string]state, len(dels))
	rows, err := db.r.QueryContext(ctx, `SELECT id, status, status_unconfirmed FROM subjects
		WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(ids))
	if err != nil {
		return nil, nil, wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var st state
		if err := rows.Scan(&id, &st.status, &st.unconfirmed); err != nil {
			return nil, nil, wrap(op, err)
		}
		states[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrap(op, err)
	}
	refused = make([]error, len(dels))
	for i, d := range dels {
		st, ok := states[d.ID]
		if !ok {
			refused[i] = wrap(op, notFound("subject", nil))
			continue
		}
		if allow != nil {
			if err := allow(st.status, st.unconfirmed); err != nil {
				refused[i] = fmt.Errorf("store: %s: %w", op, err)
				continue
			}
		}
		shred = append(shred, d.ID)
	}
	return refused, shred, nil
}
