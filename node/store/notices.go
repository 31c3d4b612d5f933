package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ServedNotice is a privacy notice version as the node first served it:
// the text (the canonical JSON of node.Notice) and its SHA-256.
type ServedNotice struct {
	Version     string
	SHA256      []byte
	Text        string
	FirstServed time.Time
}

// RecordNotice records n unless its version already holds a text, and
// returns the one held: of two writers, both get the one written first.
// A version's text is never replaced.
func (db *DB) RecordNotice(ctx context.Context, n ServedNotice) (ServedNotice, error) {
	const op = "record notice"
	if n.Version == "" || len(n.SHA256) == 0 || n.Text == "" || n.FirstServed.IsZero() {
		return ServedNotice{}, invalid(op, "missing version, hash, text or time")
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO notices (version, sha256, text, first_served)
		VALUES (?, ?, ?, ?) ON CONFLICT (version) DO NOTHING`,
		n.Version, n.SHA256, n.Text, nanos(n.FirstServed)); err != nil {
		return ServedNotice{}, wrap(op, err)
	}
	return db.notice(ctx, db.w, op, n.Version)
}

// Notice reads the text recorded under a notice version; ErrNotFound if
// none was served under it. A database opened read-only before its
// migration to this schema has served none (OpenReadOnly migrates
// nothing).
func (db *DB) Notice(ctx context.Context, version string) (ServedNotice, error) {
	const op = "notice"
	n, err := db.notice(ctx, db.r, op, version)
	if err == nil || errors.Is(err, ErrNotFound) {
		return n, err
	}
	var tables int
	if db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'notices'`).
		Scan(&tables) == nil && tables == 0 {
		return ServedNotice{}, wrap(op, ErrNotFound)
	}
	return ServedNotice{}, err
}

func (db *DB) notice(ctx context.Context, q *sql.DB, op, version string) (ServedNotice, error) {
	n := ServedNotice{Version: version}
	var first int64
	err := q.QueryRowContext(ctx, `SELECT sha256, text, first_served FROM notices WHERE version = ?`, version).
		Scan(&n.SHA256, &n.Text, &first)
	if err != nil {
		return ServedNotice{}, wrap(op, err)
	}
	n.FirstServed = fromNanos(first)
	return n, nil
}
