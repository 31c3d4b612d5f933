package store

import (
	"context"
	"strings"
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
