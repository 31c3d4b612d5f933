package store

import (
	"context"
	"database/sql"
	"strings"
)

const statementColumns = `key, raw, version, received`

// SQL of the statement cache, shared by the single and batched writes.
const (
	putStatementSQL = `INSERT INTO statements (` + statementColumns + `) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET raw = excluded.raw, version = excluded.version, received = excluded.received
		WHERE excluded.version >= statements.version`
	deleteStatementsSQL = `DELETE FROM statements WHERE substr(key, 1, length(?1)) = ?1 AND version <= ?2`
	setMetaSQL          = `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`
)

// StatementOp is one write of WriteStatements: Put (as PutStatement), or,
// when DeletePrefix is set, a delete (as DeleteStatements).
type StatementOp struct {
	Put          Statement
	DeletePrefix string
	MaxVersion   uint64
}

// WriteStatements applies ops in order and, if metaKey is not empty, sets
// the meta setting metaKey to metaValue, all in one transaction (one
// fsync): the statement cache's group commit, for a peer ingesting many
// revocation deltas. Nothing is written if any op is invalid or fails.
func (db *DB) WriteStatements(ctx context.Context, ops []StatementOp, metaKey, metaValue string) error {
	const op = "write statements"
	for _, o := range ops {
		if o.DeletePrefix != "" {
			if o.MaxVersion > maxInt64 {
				return invalid(op, "version out of range")
			}
		} else if o.Put.Key == "" || len(o.Put.Raw) == 0 || o.Put.Version > maxInt64 {
			return invalid(op, "missing key or body, or version out of range")
		}
	}
	if metaKey != "" && strings.HasPrefix(metaKey, reservedMeta) {
		return invalid(op, "reserved meta key")
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		var put, del *sql.Stmt
		for _, o := range ops {
			var err error
			if o.DeletePrefix != "" {
				if del == nil {
					if del, err = tx.PrepareContext(ctx, deleteStatementsSQL); err != nil {
						return err
					}
				}
				_, err = del.ExecContext(ctx, o.DeletePrefix, int64(o.MaxVersion))
			} else {
				if put == nil {
					if put, err = tx.PrepareContext(ctx, putStatementSQL); err != nil {
						return err
					}
				}
				_, err = put.ExecContext(ctx, o.Put.Key, o.Put.Raw, int64(o.Put.Version), nanos(o.Put.Received))
			}
			if err != nil {
				return err
			}
		}
		if metaKey == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, setMetaSQL, metaKey, metaValue)
		return err
	})
}

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
		_, err := tx.ExecContext(ctx, putStatementSQL, s.Key, s.Raw, int64(s.Version), nanos(s.Received))
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
	_, err := db.w.ExecContext(ctx, deleteStatementsSQL, prefix, int64(maxVersion))
	return wrap("delete statements", err)
}
