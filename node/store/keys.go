package store

import (
	"context"
	"database/sql"
	"strings"
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

// KeyChange is one change to the node's keys — a rotation, a compromise,
// a scheduled promotion, a root rotation — written by ChangeKeys in one
// transaction, so that a failure half-way leaves every key as it was.
type KeyChange struct {
	Insert []KeyRow
	// Update sets state, not_before, retired_at and expires of existing
	// keys, by KID.
	Update []KeyRow
	Delete []string // KIDs
	// Meta are node-level settings written with the keys: the keyset
	// signed over them and its version.
	Meta  map[string]string
	Audit []AuditEntry
}

// Empty reports whether the change writes nothing.
func (c KeyChange) Empty() bool {
	return len(c.Insert) == 0 && len(c.Update) == 0 && len(c.Delete) == 0 && len(c.Meta) == 0 && len(c.Audit) == 0
}

// ChangeKeys writes a KeyChange in one transaction, its audit entries
// included. It returns ErrConflict for a taken kid, ErrNotFound for an
// unknown kid to update or delete and ErrInvalid for a malformed row or a
// reserved meta key; then nothing is written.
func (db *DB) ChangeKeys(ctx context.Context, c KeyChange) error {
	const op = "change keys"
	for _, k := range c.Insert {
		if k.KID == "" || k.State == "" || !keyKinds[k.Kind] {
			return invalid(op, "kid, kind or state")
		}
	}
	for _, k := range c.Update {
		if k.KID == "" || k.State == "" {
			return invalid(op, "kid or state")
		}
	}
	for key := range c.Meta {
		if key == "" || strings.HasPrefix(key, reservedMeta) {
			return invalid(op, "empty or reserved meta key")
		}
	}
	return db.writeAudited(ctx, op, c.Audit, func(tx *sql.Tx) error {
		for _, k := range c.Insert {
			if _, err := tx.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				k.KID, k.Kind, k.State, nanos(k.NotBefore), nanos(k.RetiredAt), nanos(k.Expires),
				k.Public, k.Sealed, nanos(k.Created)); err != nil {
				return err
			}
		}
		for _, k := range c.Update {
			if err := execOneTx(ctx, tx, "key", `UPDATE keys SET state = ?, not_before = ?, retired_at = ?, expires = ? WHERE kid = ?`,
				k.State, nanos(k.NotBefore), nanos(k.RetiredAt), nanos(k.Expires), k.KID); err != nil {
				return err
			}
		}
		for _, kid := range c.Delete {
			if err := execOneTx(ctx, tx, "key", `DELETE FROM keys WHERE kid = ?`, kid); err != nil {
				return err
			}
		}
		for key, v := range c.Meta {
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// execOneTx runs a statement in tx that must touch exactly one row,
// reporting ErrNotFound naming what when it touched none.
func execOneTx(ctx context.Context, tx *sql.Tx, what, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return notFound(what, err)
	}
	return nil
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
