package store

import (
	"context"
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

// CreateAppeal records a new open appeal. It returns ErrNotFound when the
// subject does not exist, ErrConflict for a taken id and ErrInvalid for a
// missing id, subject, message or time.
func (db *DB) CreateAppeal(ctx context.Context, a Appeal) error {
	const op = "create appeal"
	if a.ID == "" || a.SubjectID == "" || len(a.MessageCT) == 0 || a.Created.IsZero() {
		return invalid(op, "missing id, subject, message or time")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO appeals (id, subject_id, created, status, message_ct)
		VALUES (?, ?, ?, 'open', ?)`, a.ID, a.SubjectID, nanos(a.Created), a.MessageCT)
	return wrap(op, err)
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

// OpenAppeals lists up to limit open appeals, oldest first.
func (db *DB) OpenAppeals(ctx context.Context, limit int) ([]Appeal, error) {
	if limit <= 0 {
		return nil, invalid("open appeals", "limit must be positive")
	}
	return queryAll(ctx, db.r, "open appeals", scanAppeal,
		`SELECT `+appealColumns+` FROM appeals WHERE status = 'open' ORDER BY created, id LIMIT ?`, limit)
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
// the sealed note, the status it applied ("" for none) and the time. It
// returns ErrNotFound for an unknown id, ErrConflict when the appeal is
// already resolved, and ErrInvalid for a bad outcome, status or time.
func (db *DB) ResolveAppeal(ctx context.Context, id, outcome string, noteCT []byte, applied string, at time.Time) error {
	const op = "resolve appeal"
	if !appealOutcomes[outcome] || (applied != "" && !statuses[applied]) || at.IsZero() {
		return invalid(op, "unknown outcome or status, or zero time")
	}
	res, err := db.w.ExecContext(ctx, `UPDATE appeals SET status = ?, note_ct = ?, applied_status = ?, resolved_at = ?
		WHERE id = ? AND status = 'open'`, outcome, noteCT, applied, nanos(at), id)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(op, err)
	} else if n == 1 {
		return nil
	}
	if _, err := db.Appeal(ctx, id); err != nil {
		return wrap(op, err)
	}
	return wrap(op, ErrConflict)
}
