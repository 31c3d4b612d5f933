package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Appeal is a resident's dispute of their health status (seed rule 9).
// Message and note are ciphertext under the subject's data key.
type Appeal struct {
	ID            string
	SubjectID     string
	Created       time.Time
	Status        string // open|upheld|rejected
	MessageCT     []byte
	NoteCT        []byte    // the operator's resolution note; nil while open
	AppliedStatus string    // the health status an upheld appeal set; "" if none
	ResolvedAt    time.Time // zero while open
}

// appealOutcomes are the statuses an appeal may be resolved to.
var appealOutcomes = map[string]bool{"upheld": true, "rejected": true}

// ErrTooManyOpen is returned by CreateAppeal when the subject already has
// as many open appeals as allowed.
var ErrTooManyOpen = errors.New("too many open appeals")

// CreateAppeal records a new open appeal, unless the subject already has
// maxOpen open appeals (counted in the same transaction): then it returns
// ErrTooManyOpen. It returns ErrNotFound when the subject does not exist,
// ErrConflict for a taken id and ErrInvalid for a missing id, subject,
// message or time, or a maxOpen below 1. The audit entries are appended in
// the same transaction.
func (db *DB) CreateAppeal(ctx context.Context, a Appeal, maxOpen int, audit ...AuditEntry) error {
	const op = "create appeal"
	if a.ID == "" || a.SubjectID == "" || len(a.MessageCT) == 0 || a.Created.IsZero() || maxOpen < 1 {
		return invalid(op, "missing id, subject, message, time or bound")
	}
	return db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM appeals WHERE subject_id = ? AND status = 'open'`,
			a.SubjectID).Scan(&open); err != nil {
			return err
		}
		if open >= maxOpen {
			return ErrTooManyOpen
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO appeals (id, subject_id, created, status, message_ct)
			VALUES (?, ?, ?, 'open', ?)`, a.ID, a.SubjectID, nanos(a.Created), a.MessageCT)
		return err
	})
}

const appealColumns = `id, subject_id, created, status, message_ct, note_ct, applied_status, resolved_at`

func scanAppeal(r rowScanner) (Appeal, error) {
	var a Appeal
	var created, resolved int64
	err := r.Scan(&a.ID, &a.SubjectID, &created, &a.Status, &a.MessageCT, &a.NoteCT, &a.AppliedStatus, &resolved)
	a.Created, a.ResolvedAt = fromNanos(created), fromNanos(resolved)
	return a, err
}

// Appeal reads one appeal; ErrNotFound for an unknown id (or one whose
// subject was deleted).
func (db *DB) Appeal(ctx context.Context, id string) (Appeal, error) {
	a, err := scanAppeal(db.r.QueryRowContext(ctx, `SELECT `+appealColumns+` FROM appeals WHERE id = ?`, id))
	if err != nil {
		return Appeal{}, wrap("appeal", err)
	}
	return a, nil
}

// AppealCursor is a place in the queue of open appeals: the creation time
// and id of the last appeal a page held. The zero cursor is the start.
type AppealCursor struct {
	Created time.Time
	ID      string
}

// OpenAppeals lists up to limit open appeals after the cursor, oldest
// first (by creation time, then id: a stable order, so that paging neither
// skips nor repeats an appeal that stays open).
func (db *DB) OpenAppeals(ctx context.Context, after AppealCursor, limit int) ([]Appeal, error) {
	if limit <= 0 {
		return nil, invalid("open appeals", "limit must be positive")
	}
	return queryAll(ctx, db.r, "open appeals", scanAppeal,
		`SELECT `+appealColumns+` FROM appeals WHERE status = 'open' AND (created, id) > (?, ?)
		ORDER BY created, id LIMIT ?`, nanos(after.Created), after.ID, limit)
}

// AppealsOf lists up to limit of a subject's appeals, newest first.
func (db *DB) AppealsOf(ctx context.Context, subjectID string, limit int) ([]Appeal, error) {
	if limit <= 0 {
		return nil, invalid("appeals of", "limit must be positive")
	}
	return queryAll(ctx, db.r, "appeals of", scanAppeal,
		`SELECT `+appealColumns+` FROM appeals WHERE subject_id = ? ORDER BY created DESC, id DESC LIMIT ?`, subjectID, limit)
}

// ResolveAppeal closes an open appeal with outcome (upheld or rejected),
// the sealed note, the status it applied ("" for none) and the time, and
// appends the audit entries, all in one transaction. A status to apply is
// set on the appeal's subject in that same transaction, revoking their
// live codes as SetStatus does, and only if the appeal was still open:
// of two concurrent resolutions exactly one commits, and the loser changes
// nothing. It returns the revocation (nil if none), ErrNotFound for an
// unknown id, ErrConflict when the appeal is already resolved, and
// ErrInvalid for a bad outcome, status or time.
func (db *DB) ResolveAppeal(ctx context.Context, id, outcome string, noteCT []byte, applied string, at time.Time, audit ...AuditEntry) (*Revocation, error) {
	const op = "resolve appeal"
	if !appealOutcomes[outcome] || (applied != "" && !statuses[applied]) || at.IsZero() {
		return nil, invalid(op, "unknown outcome or status, or zero time")
	}
	var rev *Revocation
	var subject string
	err := db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE appeals SET status = ?, note_ct = ?, applied_status = ?, resolved_at = ?
			WHERE id = ? AND status = 'open' RETURNING subject_id`, outcome, noteCT, applied, nanos(at), id).Scan(&subject)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM appeals WHERE id = ?`, id).Scan(&one); err != nil {
				return notFound("appeal", err)
			}
			return ErrConflict
		}
		if err != nil || applied == "" {
			return err
		}
		rev, err = setStatus(ctx, tx, subject, applied, at)
		return err
	})
	if err != nil {
		return nil, err
	}
	if applied != "" {
		db.issue.forget(subject)
	}
	return rev, nil
}
