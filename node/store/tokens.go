package store

import (
	"context"
	"database/sql"
	"fmt"
)

// roles are the roles a token may carry.
var roles = map[string]bool{"operator": true, "scanner": true, "resident": true}

// InsertToken stores a token hash. A resident token must name its subject
// and a scanner token its scanner (ErrInvalid otherwise; ErrNotFound if
// that subject or scanner does not exist); ErrConflict if the hash is
// already stored.
func (db *DB) InsertToken(ctx context.Context, t Token) error {
	return db.write(ctx, "insert token", func(tx *sql.Tx) error {
		return insertToken(ctx, tx, t)
	})
}

// insertToken checks t's role against its owner and inserts it in tx.
func insertToken(ctx context.Context, tx *sql.Tx, t Token) error {
	switch {
	case len(t.Hash) == 0 || !roles[t.Role]:
		return fmt.Errorf("token: missing hash or unknown role: %w", ErrInvalid)
	case (t.Role == "resident") != (t.SubjectID != ""),
		(t.Role == "scanner") != (t.ScannerID != ""):
		return fmt.Errorf("token: owner does not match role: %w", ErrInvalid)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, role, subject_id, scanner_id, label, created)
		VALUES (?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Role, nullable(t.SubjectID), nullable(t.ScannerID), t.Label, nanos(t.Created))
	return err
}

// bindToken fills t's empty role and owner from owner, and reports whether
// t then belongs to owner: enrolling a subject or registering a scanner can
// mint that owner's token and no other kind.
func bindToken(t, owner Token) (Token, bool) {
	if t.Role == "" {
		t.Role = owner.Role
	}
	if t.SubjectID == "" {
		t.SubjectID = owner.SubjectID
	}
	if t.ScannerID == "" {
		t.ScannerID = owner.ScannerID
	}
	return t, t.Role == owner.Role && t.SubjectID == owner.SubjectID && t.ScannerID == owner.ScannerID
}

// Token finds a token by hash; ErrNotFound if unknown (or revoked with its
// subject or scanner).
func (db *DB) Token(ctx context.Context, hash []byte) (Token, error) {
	var t Token
	var subject, scanner sql.NullString
	var created int64
	err := db.readRow(ctx, `SELECT hash, role, subject_id, scanner_id, label, created
		FROM tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.Role, &subject, &scanner, &t.Label, &created)
	if err != nil {
		return Token{}, wrap("token", err)
	}
	t.SubjectID, t.ScannerID, t.Created = subject.String, scanner.String, fromNanos(created)
	return t, nil
}
