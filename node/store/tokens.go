package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
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
		(t.Role == "scanner") != (t.ScannerID != ""),
		(t.Role == "operator") != (t.AccountID != ""):
		return fmt.Errorf("token: owner does not match role: %w", ErrInvalid)
	case t.Role == "operator" && (t.ID == "" || t.Expires.IsZero()),
		t.Role != "operator" && (t.ID != "" || !t.Expires.IsZero()):
		return fmt.Errorf("token: an operator token, and only one, has an id and an expiry: %w", ErrInvalid)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, role, subject_id, scanner_id, account_id, id, expires, label, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Role, nullable(t.SubjectID), nullable(t.ScannerID), nullable(t.AccountID), nullable(t.ID),
		nullableTime(t.Expires), t.Label, nanos(t.Created))
	return err
}

// ReplaceResidentTokens deletes every resident token of subject t.SubjectID
// and stores t in its place, and revokes the subject's phone codes that a
// verifier may still accept at t.Created (acceptedCut), in one
// transaction with the audit entries and the revocation's outbox rows:
// the old phone's link stops working, and so does the code it shows,
// which a finder of the phone could otherwise show until it expired.
// Paper codes stay valid: the resident holds them on paper, not on the
// phone.
//
// A marker (its JTI not "") is revoked with them, as a code without a
// subject, even when no phone code was live: the caller's link marker,
// by which a node restored from a backup taken before the replacement
// learns from the federation whose link it replaced (Published.Links).
//
// It returns the revocation (nil when no phone code was live and no
// marker given), ErrNotFound if the subject does not exist, ErrInvalid
// if t is not a resident token of it or has no creation time.
func (db *DB) ReplaceResidentTokens(ctx context.Context, t Token, marker RevocationEntry, audit ...AuditEntry) (*Revocation, error) {
	const op = "replace resident tokens"
	if t.Role != "resident" || t.SubjectID == "" || t.Created.IsZero() {
		return nil, invalid(op, "not a resident token, or no creation time")
	}
	var rev *Revocation
	err := db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM subjects WHERE id = ?`, t.SubjectID).Scan(&one); err != nil {
			return notFound("subject", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE subject_id = ? AND role = 'resident'`, t.SubjectID); err != nil {
			return err
		}
		if err := insertToken(ctx, tx, t); err != nil {
			return err
		}
		entries, err := revokeKindOf(ctx, tx, []string{t.SubjectID}, false, t.Created)
		if err != nil {
			return err
		}
		markers := 0
		if marker.JTI != "" {
			if err := insertMarker(ctx, tx, marker); err != nil {
				return err
			}
			entries, markers = append(entries, marker), 1
		}
		if len(entries) == 0 {
			return nil
		}
		if rev, err = appendRevocation(ctx, tx, entries, t.Created); err == nil {
			rev.Markers = markers
		}
		return err
	})
	return rev, err
}

// insertMarker writes a revocation entry that names no code as a revoked
// code without subject or text, as AdoptPublished writes codes it never
// saw, so that snapshots carry it until it expires.
func insertMarker(ctx context.Context, tx *sql.Tx, e RevocationEntry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO codes (jti, kid, issued_at, expires, revoked) VALUES (?, '', 0, ?, 1)`,
		e.JTI, nanos(e.Expires))
	return err
}

// nullableTime stores the zero time as NULL.
func nullableTime(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: nanos(t), Valid: !t.IsZero()}
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

// tokenColumns are read by scanToken, in its order.
const tokenColumns = `hash, role, subject_id, scanner_id, account_id, id, expires, label, created`

// Token finds a token by hash; ErrNotFound if unknown (or revoked with its
// subject, scanner or account). An operator token is returned even when
// expired: the caller compares Expires with its own clock.
func (db *DB) Token(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanToken(db.readRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return Token{}, wrap("token", err)
	}
	return t, nil
}

func scanToken(r rowScanner) (Token, error) {
	var t Token
	var subject, scanner, account, id sql.NullString
	var expires sql.NullInt64
	var created int64
	err := r.Scan(&t.Hash, &t.Role, &subject, &scanner, &account, &id, &expires, &t.Label, &created)
	t.SubjectID, t.ScannerID, t.AccountID, t.ID = subject.String, scanner.String, account.String, id.String
	t.Created = fromNanos(created)
	if expires.Valid {
		t.Expires = fromNanos(expires.Int64)
	}
	return t, err
}
