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
	// FiledStatusSince is the subject's status_since when the appeal was
	// filed (CreateAppeal sets it); zero for appeals filed before the
	// node recorded it.
	FiledStatusSince time.Time
}

// appealOutcomes are the statuses an appeal may be resolved to.
var appealOutcomes = map[string]bool{"upheld": true, "rejected": true}

// ErrTooManyOpen is returned by CreateAppeal when the subject already has
// as many open appeals as allowed.
var ErrTooManyOpen = errors.New("too many open appeals")

// CreateAppeal records a new open appeal, with the subject's status_since
// as FiledStatusSince (read in the same transaction), unless the subject already has
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
		var since int64
		if err := tx.QueryRowContext(ctx, `SELECT status_since FROM subjects WHERE id = ?`, a.SubjectID).Scan(&since); err != nil {
			return notFound("subject", err)
		}
		// A page split copies appeals filed before this one: under
		// secure_delete the space they leave is overwritten, so that no
		// stale copy of a message outlives DeleteResolvedAppeals.
		return withSecureDelete(ctx, tx, func() error {
			_, err := tx.ExecContext(ctx, `INSERT INTO appeals (id, subject_id, created, status, message_ct, filed_status_since)
				VALUES (?, ?, ?, 'open', ?, ?)`, a.ID, a.SubjectID, nanos(a.Created), a.MessageCT, since)
			return err
		})
	})
}

const appealColumns = `id, subject_id, created, status, message_ct, note_ct, applied_status, resolved_at, filed_status_since`

func scanAppeal(r rowScanner) (Appeal, error) {
	var a Appeal
	var created, resolved, filed int64
	err := r.Scan(&a.ID, &a.SubjectID, &created, &a.Status, &a.MessageCT, &a.NoteCT, &a.AppliedStatus, &resolved, &filed)
	a.Created, a.ResolvedAt, a.FiledStatusSince = fromNanos(created), fromNanos(resolved), fromNanos(filed)
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

// AppealResolution is what ResolveAppeal writes.
type AppealResolution struct {
	Outcome string // upheld or rejected
	NoteCT  []byte // the sealed note; nil for none
	// Applied is the health status an upheld appeal sets, "" for none.
	// The status the subject already has is recorded but not set again:
	// their status_since and live codes stay as they are; a
	// StatusUnconfirmed mark is cleared, the status being confirmed.
	Applied string
	// StatusSince is the subject's status_since that the decision was
	// taken against: if it is not the subject's status_since any more
	// when the transaction runs, nothing is written (ErrStatusChanged).
	StatusSince time.Time
	At          time.Time
}

// ResolveAppeal closes an open appeal with r, and appends the audit
// entries, all in one transaction, only if the appeal is still open and
// the subject's status is still the one set at r.StatusSince: of two
// concurrent resolutions exactly one commits, a status change committed
// meanwhile refuses it, and the loser changes nothing. A status to apply
// that differs from the subject's is set in that same transaction,
// revoking their live codes as SetStatus does. It returns the revocation
// (nil if none), ErrNotFound for an unknown id, ErrConflict when the
// appeal is already resolved, ErrStatusChanged when the subject's status
// was set after r.StatusSince, and ErrInvalid for a bad outcome, status
// or time.
func (db *DB) ResolveAppeal(ctx context.Context, id string, r AppealResolution, audit ...AuditEntry) (*Revocation, error) {
	const op = "resolve appeal"
	if !appealOutcomes[r.Outcome] || (r.Applied != "" && !statuses[r.Applied]) || r.At.IsZero() || r.StatusSince.IsZero() {
		return nil, invalid(op, "unknown outcome or status, or zero time")
	}
	var rev *Revocation
	var subject, status string
	err := db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		var since int64
		var open bool
		err := tx.QueryRowContext(ctx, `SELECT a.subject_id, a.status = 'open', s.status, s.status_since
			FROM appeals a JOIN subjects s ON s.id = a.subject_id WHERE a.id = ?`, id).Scan(&subject, &open, &status, &since)
		switch {
		case err != nil:
			return notFound("appeal", err)
		case !open:
			return ErrConflict
		case since != nanos(r.StatusSince):
			return ErrStatusChanged
		}
		// The row grows, and SQLite may move it: under secure_delete the
		// cell it leaves, the message sealed under a key that outlives
		// the appeal, is overwritten rather than left free in the page
		// (DeleteResolvedAppeals must delete every copy of the text).
		if err := withSecureDelete(ctx, tx, func() error {
			_, err := tx.ExecContext(ctx, `UPDATE appeals SET status = ?, note_ct = ?, applied_status = ?, resolved_at = ?
				WHERE id = ?`, r.Outcome, r.NoteCT, r.Applied, nanos(r.At), id)
			return err
		}); err != nil {
			return err
		}
		switch {
		case r.Applied == "":
			return nil
		case r.Applied == status:
			// Named by the decision, the status held is confirmed.
			_, err := tx.ExecContext(ctx, `UPDATE subjects SET status_unconfirmed = 0 WHERE id = ?`, subject)
			return err
		}
		rev, err = setStatus(ctx, tx, subject, r.Applied, r.At)
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.Applied != "" {
		db.issue.forget(subject)
	}
	return rev, nil
}

// DeleteResolvedAppeals deletes up to limit appeals resolved at or before
// before, oldest first, with their sealed message and note, and appends
// audit(a) for each one deleted in the same transaction: the audit log
// keeps what was decided, never the text. The text is sealed under the
// resident's data key, which outlives the appeal while the resident is
// enrolled, so the rows go under secure_delete (as DeleteExpiredLookups):
// their bytes are overwritten, not left in a free cell of node.db. It
// returns how many went; a caller with more to delete calls again.
func (db *DB) DeleteResolvedAppeals(ctx context.Context, before time.Time, limit int, audit func(Appeal) AuditEntry) (int, error) {
	const op = "delete resolved appeals"
	if limit <= 0 || before.IsZero() || audit == nil {
		return 0, invalid(op, "limit must be positive, time and audit given")
	}
	var n int
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		var rows []Appeal
		err := withSecureDelete(ctx, tx, func() (err error) {
			rows, err = queryAll(ctx, tx, op, scanAppeal, `DELETE FROM appeals WHERE id IN (
				SELECT id FROM appeals WHERE status <> 'open' AND resolved_at <= ? ORDER BY resolved_at LIMIT ?)
				RETURNING `+appealColumns, nanos(before), limit)
			return err
		})
		if err != nil {
			return err
		}
		entries := make([]AuditEntry, len(rows))
		for i, a := range rows {
			entries[i] = audit(a)
		}
		if err := checkAudit(entries); err != nil {
			return err
		}
		n = len(rows)
		return appendAudit(sqlTx{ctx: ctx, tx: tx}, entries)
	})
	return n, err
}
