package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The subjects' blind index makes one ID number one subject without
// storing the number: the node keeps HMAC-SHA256(key, number) per subject,
// unique, under a random key sealed by the KEK. Both live in keys.db, next
// to the data keys, so that deleting a subject (shredSubjectKeys) deletes
// its index value with its key, secure_delete zeroes both, and no copy of
// node.db ever holds a value that would link an ID number to a subject.
//
// complete is 1 once every subject enrolled before the index existed has
// been given its value (the node's backfill at start).
const subjectIndexSchema = `CREATE TABLE IF NOT EXISTS subject_index (
	idx BLOB PRIMARY KEY,
	id  TEXT NOT NULL UNIQUE
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subject_index_key (
	one      INTEGER PRIMARY KEY CHECK (one = 1),
	sealed   BLOB NOT NULL,
	complete INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1))
) STRICT`

// DuplicateError is returned when a subject's blind index value is held by
// another subject: the same person is enrolled already. It is an
// ErrConflict.
type DuplicateError struct {
	SubjectID string // the subject that holds the value
}

func (e *DuplicateError) Error() string {
	return "already enrolled as subject " + e.SubjectID
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *DuplicateError) Unwrap() error { return ErrConflict }

// insertIndex records idx for subject id in the key store transaction tx,
// or returns a *DuplicateError naming the subject that holds it.
func insertIndex(ctx context.Context, tx *sql.Tx, id string, idx []byte) error {
	var holder string
	err := tx.QueryRowContext(ctx, `SELECT id FROM subject_index WHERE idx = ?`, idx).Scan(&holder)
	switch {
	case err == nil && holder == id:
		return nil
	case err == nil:
		return &DuplicateError{SubjectID: holder}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO subject_index (idx, id) VALUES (?, ?)`, idx, id)
	return err
}

// SubjectIndexKey returns the blind index key, sealed, and whether the
// index is complete. If there is none yet, it stores sealed as the key
// (incomplete) and returns it; of two processes racing, both get the one
// stored first.
func (db *DB) SubjectIndexKey(ctx context.Context, sealed []byte) ([]byte, bool, error) {
	const op = "subject index key"
	if len(sealed) == 0 {
		return nil, false, invalid(op, "empty key")
	}
	if _, err := db.k.ExecContext(ctx, `INSERT INTO subject_index_key (one, sealed) VALUES (1, ?)
		ON CONFLICT (one) DO NOTHING`, sealed); err != nil {
		return nil, false, wrap(op, err)
	}
	var stored []byte
	var complete bool
	err := db.k.QueryRowContext(ctx, `SELECT sealed, complete FROM subject_index_key WHERE one = 1`).Scan(&stored, &complete)
	return stored, complete, wrap(op, err)
}

// MarkSubjectIndexComplete records that every subject has its index value.
func (db *DB) MarkSubjectIndexComplete(ctx context.Context) error {
	return wrap("mark subject index complete", db.execKeysOne(ctx,
		`UPDATE subject_index_key SET complete = 1 WHERE one = 1`))
}

// execKeysOne runs one statement on the key store that must touch a row.
func (db *DB) execKeysOne(ctx context.Context, query string, args ...any) error {
	res, err := db.k.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return notFound("row", err)
	}
	return nil
}

// UnindexedSubjects lists, in id order after the id after, up to limit
// subjects that hold an ID number but no blind index value and whose data
// key still exists (a subject whose key is shredded is gone already), each
// with its data key, for the caller to compute and SetSubjectIndex it.
func (db *DB) UnindexedSubjects(ctx context.Context, after string, limit int) ([]Subject, string, error) {
	const op = "unindexed subjects"
	if limit <= 0 {
		return nil, "", invalid(op, "limit must be positive")
	}
	ids, err := queryAll(ctx, db.r, op, func(r rowScanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT id FROM subjects WHERE id > ? AND id_number_ct IS NOT NULL ORDER BY id LIMIT ?`, after, limit)
	if err != nil || len(ids) == 0 {
		return nil, "", err
	}
	var out []Subject
	for _, id := range ids {
		var one int
		err := db.k.QueryRowContext(ctx, `SELECT 1 FROM subject_index WHERE id = ?`, id).Scan(&one)
		if err == nil {
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, "", wrap(op, err)
		}
		s, err := db.Subject(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, s)
	}
	return out, ids[len(ids)-1], nil
}

// SetSubjectIndex gives an existing subject its blind index value. It
// returns a *DuplicateError if another subject holds idx, and ErrNotFound
// if the subject's data key is gone.
func (db *DB) SetSubjectIndex(ctx context.Context, id string, idx []byte) error {
	const op = "set subject index"
	if id == "" || len(idx) == 0 {
		return invalid(op, "missing id or index")
	}
	tx, err := db.k.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM subject_keys WHERE id = ?`, id).Scan(&one); err != nil {
		return wrap(op, notFound("subject key", err))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM subject_index WHERE id = ?`, id); err != nil {
		return wrap(op, err)
	}
	if err := insertIndex(ctx, tx, id, idx); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return wrap(op, tx.Commit())
}
