package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// reservedMeta prefixes the meta keys this package keeps for itself (the
// audit chain head); SetMeta refuses them so no caller can move the head.
const reservedMeta = "store."

// GetMeta reads a node-level setting (province id, KEK check value...).
// It returns ErrNotFound if the setting was never written.
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err != nil {
		return "", wrap("get meta", err)
	}
	return v, nil
}

// SetMeta writes a node-level setting, replacing any previous value. Keys
// starting with "store." belong to this package and are refused.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	if key == "" || strings.HasPrefix(key, reservedMeta) {
		return invalid("set meta", "empty or reserved key")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return wrap("set meta", err)
}

// TimeMeta reads a time SetTimeMeta saved under key, or the zero time if
// none (or an empty value) was.
func (db *DB) TimeMeta(ctx context.Context, key string) (time.Time, error) {
	v, err := db.GetMeta(ctx, key)
	if errors.Is(err, ErrNotFound) || (err == nil && v == "") {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseTimeMeta(key, v)
}

// SetTimeMeta saves t under key, in Unix nanoseconds, as SetMeta does.
func (db *DB) SetTimeMeta(ctx context.Context, key string, t time.Time) error {
	return db.SetMeta(ctx, key, formatTimeMeta(t))
}

// formatTimeMeta and parseTimeMeta are how a time is kept in a meta
// value, of the node's database or a replica's: Unix nanoseconds.
func formatTimeMeta(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func parseTimeMeta(key, v string) (time.Time, error) {
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", key, err)
	}
	return time.Unix(0, ns), nil
}

// MetaOnce writes value under key unless key already holds one, and
// returns the value held: of two processes racing, both get the one
// written first. It is for values made once and never replaced, such as
// the node's secrets sealed by the KEK.
func (db *DB) MetaOnce(ctx context.Context, key, value string) (string, error) {
	if key == "" || strings.HasPrefix(key, reservedMeta) || value == "" {
		return "", invalid("meta once", "empty or reserved key, or empty value")
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", wrap("meta once", err)
	}
	var held string
	err := db.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&held)
	return held, wrap("meta once", err)
}

// MetaKeysWithPrefix lists the meta keys that begin with prefix, in
// order: the node's dated secrets (one per day) are found this way.
func (db *DB) MetaKeysWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "" {
		return nil, invalid("meta keys", "empty prefix")
	}
	return queryAll(ctx, db.r, "meta keys", func(r rowScanner) (string, error) {
		var k string
		return k, r.Scan(&k)
	}, `SELECT key FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key`, len(prefix), prefix)
}

// ShredMeta deletes the meta keys given, under secure_delete, and returns
// how many went: it is for secrets sealed by the KEK whose deletion is
// what makes the data they sealed unreadable (crypto-shredding), so their
// bytes must not stay in a free page of node.db. Keys starting with
// "store." are refused.
func (db *DB) ShredMeta(ctx context.Context, keys []string) (int, error) {
	const op = "shred meta"
	for _, k := range keys {
		if k == "" || strings.HasPrefix(k, reservedMeta) {
			return 0, invalid(op, "empty or reserved key")
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	return db.deleteSecurely(ctx, op, `DELETE FROM meta WHERE key IN (SELECT value FROM json_each(?))`, jsonIDs(keys))
}
