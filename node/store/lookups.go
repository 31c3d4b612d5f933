package store

import (
	"context"
	"time"
)

// Lookup is contact data obtained from another province for one case,
// sealed by the caller; it is kept until Expires and no longer.
type Lookup struct {
	ID        string
	Home      string // the province that answered
	JTIHash   string // the code looked up, pseudonymised as in the audit log
	CaseID    string
	ContactCT []byte // sealed under the KEK by the caller
	Created   time.Time
	Expires   time.Time
}

// InsertLookup records a lookup's sealed contact data. It returns
// ErrInvalid for a missing field or an expiry not after its creation, and
// ErrConflict for an id already used.
func (db *DB) InsertLookup(ctx context.Context, l Lookup) error {
	const op = "insert lookup"
	if l.ID == "" || l.Home == "" || l.JTIHash == "" || l.CaseID == "" || len(l.ContactCT) == 0 ||
		l.Created.IsZero() || !l.Expires.After(l.Created) {
		return invalid(op, "missing field or expiry not after creation")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO lookups (id, home, jti_hash, case_id, contact_ct, created, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, l.ID, l.Home, l.JTIHash, l.CaseID, l.ContactCT, nanos(l.Created), nanos(l.Expires))
	return wrap(op, err)
}

// Lookup reads one lookup; ErrNotFound once it was deleted.
func (db *DB) Lookup(ctx context.Context, id string) (Lookup, error) {
	var l Lookup
	var created, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT id, home, jti_hash, case_id, contact_ct, created, expires
		FROM lookups WHERE id = ?`, id).Scan(&l.ID, &l.Home, &l.JTIHash, &l.CaseID, &l.ContactCT, &created, &expires)
	if err != nil {
		return Lookup{}, wrap("lookup", err)
	}
	l.Created, l.Expires = fromNanos(created), fromNanos(expires)
	return l, nil
}

// DeleteExpiredLookups deletes every lookup whose expiry is at or before
// now, and returns how many went.
func (db *DB) DeleteExpiredLookups(ctx context.Context, now time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM lookups WHERE expires <= ?`, nanos(now))
	if err != nil {
		return 0, wrap("delete expired lookups", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete expired lookups", err)
}
