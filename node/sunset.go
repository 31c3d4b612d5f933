package node

import (
	"context"
	"errors"
	"strconv"
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
// A node sunset already is refused (EConflict), so that a second run
// cannot replace the counts the first one kept with zeros.
func Sunset(ctx context.Context, db *store.DB, actor string, now time.Time) (store.SunsetCounts, error) {
	if at, _, done, err := SunsetKept(ctx, db); err != nil {
		return store.SunsetCounts{}, err
	} else if done {
		return store.SunsetCounts{}, Errorf(EConflict, "this node was sunset already, at %s: nothing is left to delete",
			at.UTC().Format(time.RFC3339))
	}
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

// SunsetKept reports whether the node was sunset (done), when, and the
// anonymous counts the sunset kept (residents, codes and scanners it
// deleted); done is false for a node never sunset.
func SunsetKept(ctx context.Context, db *store.DB) (at time.Time, kept store.SunsetCounts, done bool, err error) {
	v, err := db.GetMeta(ctx, "sunset.at")
	if errors.Is(err, store.ErrNotFound) || (err == nil && v == "") {
		return at, kept, false, nil
	}
	if err != nil {
		return at, kept, false, err
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return at, kept, true, internal("sunset.at", err)
	}
	for key, n := range map[string]*int{"sunset.subjects": &kept.Subjects, "sunset.codes": &kept.Codes, "sunset.scanners": &kept.Scanners} {
		if v, err := db.GetMeta(ctx, key); err == nil {
			*n, _ = strconv.Atoi(v)
		}
	}
	return time.Unix(sec, 0), kept, true, nil
}
