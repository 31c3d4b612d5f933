package node

import (
	"context"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// SunsetPlan says what Sunset would delete, so the operator can read it
// before confirming.
func SunsetPlan(ctx context.Context, db *store.DB) (store.SunsetCounts, error) {
	return db.Counts(ctx)
}

// Sunset ends the purpose of a stopped node (seed suggestion 3): every
// resident record, consent, code, token, scanner, key, content key and
// cached statement is deleted — data keys and the KEK-sealed keys with
// them (the keys of lookups' legal bases too), so any backup becomes
// unreadable — keeping only anonymous counts and the audit log. The node will not start again.
func Sunset(ctx context.Context, db *store.DB, actor string, now time.Time) (store.SunsetCounts, error) {
	if err := db.AppendAudit(ctx, store.AuditEntry{Time: now, Actor: actor, Action: "node.sunset"}); err != nil {
		return store.SunsetCounts{}, err
	}
	// The legal bases of lookups stay sealed in the audit log, which the
	// sunset keeps: their keys go, as the node's other keys do.
	keys, err := db.MetaKeysWithPrefix(ctx, basisKeyMeta)
	if err == nil {
		_, err = db.ShredMeta(ctx, keys)
	}
	if err != nil {
		return store.SunsetCounts{}, err
	}
	return db.Sunset(ctx, now)
}
