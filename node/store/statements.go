package store

import (
	"context"
	"database/sql"
)

const statementColumns = `key, raw, version, received`

// PutStatement caches a verified peer statement under its key, replacing
// an older version.
//
// A statement whose Version is lower than the cached one is ignored (nil
// error), so a late or replayed message never rolls the cache back; an
// equal version replaces the row (a re-signed copy). Use Statement to see
// what is cached. The audit entries, if any, are appended in the same
// transaction (an operators' re-bootstrap of the trust list is audited).
func (db *DB) PutStatement(ctx context.Context, s Statement, audit ...AuditEntry) error {
	const op = "put statement"
	if s.Key == "" || len(s.Raw) == 0 || s.Version > maxInt64 {
		return invalid(op, "missing key or body, or version out of range")
	}
	return db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO statements (`+statementColumns+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET raw = excluded.raw, version = excluded.version, received = excluded.received
		WHERE excluded.version >= statements.version`,
			s.Key, s.Raw, int64(s.Version), nanos(s.Received))
		return err
	})
}

// Statement reads the cached statement under key; ErrNotFound if none.
func (db *DB) Statement(ctx context.Context, key string) (Statement, error) {
	s, err := scanStatement(db.r.QueryRowContext(ctx, `SELECT `+statementColumns+` FROM statements WHERE key = ?`, key))
	if err != nil {
		return Statement{}, wrap("statement", err)
	}
	return s, nil
}

// Statements lists every cached statement, by key.
func (db *DB) Statements(ctx context.Context) ([]Statement, error) {
	return queryAll(ctx, db.r, "statements", scanStatement,
		`SELECT `+statementColumns+` FROM statements ORDER BY key`)
}

func scanStatement(r rowScanner) (Statement, error) {
	var s Statement
	var version, received int64
	err := r.Scan(&s.Key, &s.Raw, &version, &received)
	s.Version, s.Received = uint64(version), fromNanos(received)
	return s, err
}

// DeleteStatements deletes every cached statement whose key starts with
// prefix and whose version is at most maxVersion: revocation deltas that a
// newer snapshot covers.
func (db *DB) DeleteStatements(ctx context.Context, prefix string, maxVersion uint64) error {
	if prefix == "" || maxVersion > maxInt64 {
		return invalid("delete statements", "missing prefix or version out of range")
	}
	_, err := db.w.ExecContext(ctx, `DELETE FROM statements WHERE substr(key, 1, length(?1)) = ?1 AND version <= ?2`,
		prefix, int64(maxVersion))
	return wrap("delete statements", err)
}
