package node

import (
	"context"
	"errors"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// A content key's id is its province, its epoch and a generation
// ("<province>/<epoch>.<gen>", contentrekey.go). A backup lacks the
// content keys made after it: those of the epochs since, and the new
// generations started for a suspension or a compromise. Restored, the
// node would make them again under the same ids with other material, and
// a peer given a key under an id it holds replaced it: every code issued
// under the lost key answered bad_content everywhere.
//
// So a restored node starts every content key of an epoch the lost
// database may have made keys of — up to the one after the restore's,
// made ahead — at a generation no node made before: the restore's time
// (that of the start that found the database restored, if later) in Unix
// milliseconds, or one above the newest it holds if higher. A
// later restore is later, so its generations are higher still; the rekeys
// between two restores (each keeps a live key, maxOwnContentKeys) are
// far fewer than the milliseconds between them. Epochs after that start
// at generation 0 again, keeping codes' key ids short. The time is kept
// under metaContentRestore, since the Restored mark goes at
// reconciliation. Peers keep the lost keys until they expire.
//
// All this holds while the restore's time is after the lost database's:
// with the clock behind it, the epochs that database reached beyond the
// restore's next would start at 0 again, under ids it used. The clock
// cannot be checked against a database that is lost, but the backup's
// time can: a restore while the clock reads before it is refused
// (store.ErrClockBehindBackup), and the Restored mark is never earlier.

// metaContentRestore is the meta key of the time of the restore the
// content-key generations start above, RFC 3339.
const metaContentRestore = "content_key.restored_at"

// loadRestore reads the time of the latest restore into ks.restoredAt.
// If the database is marked restored, it is the later of the mark's and
// kc.now (the node's clock decides the epochs, and a restore is before
// the start that finds it; a mark not written by a restore counts from
// kc.now), recorded in kc under metaContentRestore; else the one
// recorded, if any. Callers hold ks.mu.
func (ks *keySchedule) loadRestore(ctx context.Context, kc *keyChange) error {
	held, err := ks.restoreTime(ctx, metaContentRestore)
	if err != nil {
		return err
	}
	ks.restoredAt = held
	mark, err := ks.restoreTime(ctx, store.Restored)
	if err != nil || mark.IsZero() {
		return err
	}
	ks.restoredAt = latest(mark, kc.now, held)
	if kc.w.Meta == nil {
		kc.w.Meta = map[string]string{}
	}
	kc.w.Meta[metaContentRestore] = ks.restoredAt.UTC().Format(time.RFC3339Nano)
	return nil
}

// restoreTime reads the time under meta key: zero if there is none, the
// Unix epoch's start if it is not a time.
func (ks *keySchedule) restoreTime(ctx context.Context, key string) (time.Time, error) {
	v, err := ks.db.GetMeta(ctx, key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && v == "") {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Unix(0, 0), nil
	}
	return t, nil
}

// latest is the latest of ts.
func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// firstGen is the lowest generation a new content key of t's epoch may
// take: the restore's (see above) for an epoch up to the one after the
// restore's, else 0. Callers hold ks.mu.
func (ks *keySchedule) firstGen(t time.Time) int64 {
	if ks.restoredAt.IsZero() || epochIndex(t, ks.cfg.ContentEpoch) > epochIndex(ks.restoredAt, ks.cfg.ContentEpoch)+1 {
		return 0
	}
	return ks.restoredAt.UnixMilli()
}
