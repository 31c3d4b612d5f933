package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Lookup is contact data obtained from another province for one case,
// sealed by the caller; it is kept until Expires and no longer.
type Lookup struct {
	ID        string
	Home      string // the province that answered
	JTIHash   string // the code looked up, pseudonymised as in the audit log
	CaseTag   string // the case it was asked for, as the audit log keeps it: a keyed tag, never the case id
	ContactCT []byte // sealed under the KEK by the caller
	Created   time.Time
	Expires   time.Time
}

// InsertLookup records a lookup's sealed contact data. It returns
// ErrInvalid for a missing field or an expiry not after its creation, and
// ErrConflict for an id already used.
func (db *DB) InsertLookup(ctx context.Context, l Lookup) error {
	const op = "insert lookup"
	if l.ID == "" || l.Home == "" || l.JTIHash == "" || l.CaseTag == "" || len(l.ContactCT) == 0 ||
		l.Created.IsZero() || !l.Expires.After(l.Created) {
		return invalid(op, "missing field or expiry not after creation")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO lookups (id, home, jti_hash, case_tag, contact_ct, created, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, l.ID, l.Home, l.JTIHash, l.CaseTag, l.ContactCT, nanos(l.Created), nanos(l.Expires))
	return wrap(op, err)
}

// Lookup reads one lookup; ErrNotFound once it was deleted.
func (db *DB) Lookup(ctx context.Context, id string) (Lookup, error) {
	var l Lookup
	var created, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT id, home, jti_hash, case_tag, contact_ct, created, expires
		FROM lookups WHERE id = ?`, id).Scan(&l.ID, &l.Home, &l.JTIHash, &l.CaseTag, &l.ContactCT, &created, &expires)
	if err != nil {
		return Lookup{}, wrap("lookup", err)
	}
	l.Created, l.Expires = fromNanos(created), fromNanos(expires)
	return l, nil
}

// DeleteExpiredLookups deletes every lookup whose expiry is at or before
// now, and returns how many went, overwriting their bytes with zeros
// (secure_delete; see deleteSecurely).
func (db *DB) DeleteExpiredLookups(ctx context.Context, now time.Time) (int, error) {
	return db.deleteSecurely(ctx, "delete expired lookups", `DELETE FROM lookups WHERE expires <= ?`, nanos(now))
}

// DeleteLookupsOf deletes the lookups answered by home about any of the
// codes jtiHashes (pseudonymised as Lookup.JTIHash), as DeleteExpiredLookups
// does, and returns how many went: home's resident deleted their record,
// and home told this node so. Another province's lookups are untouched.
func (db *DB) DeleteLookupsOf(ctx context.Context, home string, jtiHashes []string) (int, error) {
	const op = "delete lookups of"
	if home == "" || len(jtiHashes) == 0 {
		return 0, invalid(op, "no home or no code")
	}
	return db.deleteSecurely(ctx, op, `DELETE FROM lookups WHERE home = ? AND jti_hash IN (SELECT value FROM json_each(?))`,
		home, jsonIDs(jtiHashes))
}

// deleteSecurely runs one DELETE under secure_delete, for rows whose
// bytes must not outlive them: a lookup's contact is sealed under the
// KEK, which outlives it, and a shredded secret (ShredMeta) is what kept
// its ciphertexts readable; so deleting the row must also erase its
// bytes (only for this statement; node.db's other writes keep the
// default).
func (db *DB) deleteSecurely(ctx context.Context, op, query string, args ...any) (int, error) {
	var n int64
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		return withSecureDelete(ctx, tx, func() error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
	})
	return int(n), err
}

// withSecureDelete runs fn with secure_delete on for tx's connection, so
// that what fn deletes is overwritten with zeros rather than left in a
// free cell or page of node.db; it is turned off again whatever fn
// returns.
func withSecureDelete(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return err
	}
	err := fn()
	_, off := tx.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	return errors.Join(err, off)
}
