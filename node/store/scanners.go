package store

import (
	"context"
	"database/sql"
	"errors"
)

// defaultScope is the least a scanner can see: colour and masked name.
const defaultScope = "status"

// AddScanner registers a scanner with its token in one transaction.
//
// An empty s.Scope becomes "status"; t.Role and t.ScannerID may be left
// empty and are then "scanner" and s.ID. A zero t (nil Hash) registers the
// scanner without a token. It returns ErrConflict if the id or token hash
// is taken. The audit entries are appended in the same transaction.
func (db *DB) AddScanner(ctx context.Context, s Scanner, t Token, audit ...AuditEntry) error {
	const op = "add scanner"
	if s.ID == "" {
		return invalid(op, "missing id")
	}
	if s.Scope == "" {
		s.Scope = defaultScope
	}
	withToken := len(t.Hash) > 0
	t, ok := bindToken(t, Token{Role: "scanner", ScannerID: s.ID})
	if withToken && !ok {
		return invalid(op, "token is not this scanner's token")
	}
	return db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scanners (id, name, place, scope, created, disabled)
			VALUES (?, ?, ?, ?, ?, ?)`,
			s.ID, s.Name, s.Place, s.Scope, nanos(s.Created), boolInt(s.Disabled)); err != nil {
			return err
		}
		if !withToken {
			return nil
		}
		return insertToken(ctx, tx, t)
	})
}

const scannerColumns = `id, name, place, scope, created, disabled`

// Scanners lists registered scanners, removed ones included (Disabled),
// oldest first.
func (db *DB) Scanners(ctx context.Context) ([]Scanner, error) {
	return queryAll(ctx, db.r, "scanners", scanScanner,
		`SELECT `+scannerColumns+` FROM scanners ORDER BY created, id`)
}

// Scanner reads one scanner; ErrNotFound for an unknown id.
func (db *DB) Scanner(ctx context.Context, id string) (Scanner, error) {
	s, err := scanScanner(db.r.QueryRowContext(ctx, `SELECT `+scannerColumns+` FROM scanners WHERE id = ?`, id))
	if err != nil {
		return Scanner{}, wrap("scanner", err)
	}
	return s, nil
}

// RemoveScanner disables a scanner and deletes its tokens, in one
// transaction. The row stays, so audit entries naming the scanner still
// resolve. It returns ErrNotFound for an unknown id. The audit entries are
// appended in the same transaction.
func (db *DB) RemoveScanner(ctx context.Context, id string, audit ...AuditEntry) error {
	return db.writeAudited(ctx, "remove scanner", audit, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE scanners SET disabled = 1 WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("scanner", err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM tokens WHERE scanner_id = ?`, id)
		return err
	})
}

func scanScanner(r rowScanner) (Scanner, error) {
	var s Scanner
	var created int64
	err := r.Scan(&s.ID, &s.Name, &s.Place, &s.Scope, &created, &s.Disabled)
	s.Created = fromNanos(created)
	return s, err
}

// scannerSetMeta is the meta key of the scanner set's version, kept by
// the triggers of 0021_scanner_set_version.sql.
const scannerSetMeta = reservedMeta + "scanner_set_version"

// ScannerSetVersion is the version of what ScannerTokens lists: it moves
// in the transaction of every change to a scanner or a scanner token,
// whatever made it, and is 0 before the first.
func (db *DB) ScannerSetVersion(ctx context.Context) (uint64, error) {
	var v uint64
	err := db.r.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?`, scannerSetMeta).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, wrap("scanner set version", err)
}
