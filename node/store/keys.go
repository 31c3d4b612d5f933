package store

import (
	"context"
	"time"
)

// keyKinds are the kinds a KeyRow may have.
var keyKinds = map[string]bool{"root": true, "sign": true, "enc": true, "content": true}

const keyColumns = `kid, kind, state, not_before, retired_at, expires, public, sealed, created`

// InsertKey adds one of the node's keys. It returns ErrConflict if the kid
// is taken and ErrInvalid for an unknown kind or a missing kid or state.
func (db *DB) InsertKey(ctx context.Context, k KeyRow) error {
	if k.KID == "" || k.State == "" || !keyKinds[k.Kind] {
		return invalid("insert key", "kid, kind or state")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KID, k.Kind, k.State, nanos(k.NotBefore), nanos(k.RetiredAt), nanos(k.Expires),
		k.Public, k.Sealed, nanos(k.Created))
	return wrap("insert key", err)
}

// UpdateKey changes a key's state, retirement time and expiry. It returns
// ErrNotFound for an unknown kid.
func (db *DB) UpdateKey(ctx context.Context, kid, state string, retiredAt, expires time.Time) error {
	if state == "" {
		return invalid("update key", "empty state")
	}
	return db.execOne(ctx, "update key", "key",
		`UPDATE keys SET state = ?, retired_at = ?, expires = ? WHERE kid = ?`,
		state, nanos(retiredAt), nanos(expires), kid)
}

// Keys lists the node's keys of one kind, oldest first.
func (db *DB) Keys(ctx context.Context, kind string) ([]KeyRow, error) {
	return queryAll(ctx, db.r, "keys", scanKey,
		`SELECT `+keyColumns+` FROM keys WHERE kind = ? ORDER BY created, rowid`, kind)
}

// DeleteKey removes a key (dropped after its last code expired, or sunset).
// It returns ErrNotFound for an unknown kid.
func (db *DB) DeleteKey(ctx context.Context, kid string) error {
	return db.execOne(ctx, "delete key", "key", `DELETE FROM keys WHERE kid = ?`, kid)
}

func scanKey(rows rowScanner) (KeyRow, error) {
	var k KeyRow
	var notBefore, retiredAt, expires, created int64
	err := rows.Scan(&k.KID, &k.Kind, &k.State, &notBefore, &retiredAt, &expires, &k.Public, &k.Sealed, &created)
	k.NotBefore, k.RetiredAt, k.Expires, k.Created = fromNanos(notBefore), fromNanos(retiredAt), fromNanos(expires), fromNanos(created)
	return k, err
}
