package federation

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestEverHigherSnapshotsCostAPeerAtMostTheirByteRate: a member with
// genuine keys opens a gap and then publishes a genuine snapshot, higher
// each time. Each download filled its pointer, so none backed off, and
// every peer downloaded the whole snapshot (up to trust.MaxSnapshotLen)
// once per minSnapshotFetchGap. Now a download of n bytes defers the
// province's next by n ÷ the byte rate (snapshotBytesPerMinute, lowered
// here so that a test snapshot's download weighs minutes), each such
// deferral is counted, and the member's snapshot still fills the gap once
// it has passed.
func TestEverHigherSnapshotsCostAPeerAtMostTheirByteRate(t *testing.T) {
	t.Parallel()
	const far = 10 * time.Minute
	const rate = 256 // bytes a minute
	f := newFixture(t)
	gdc, u, ahead := f.caughtUpWithClock(t)
	u.mu.Lock()
	u.snapRate = rate
	u.mu.Unlock()
	first := f.snapshot(gd, 1)
	deferred := byteRateWait(len(first), rate)
	if deferred < 10*minSnapshotFetchGap {
		t.Fatalf("a %d-byte snapshot defers the next download by %v only: lower the test's rate", len(first), deferred)
	}
	putSnapshot(t, gdc, gd, first)
	ahead.Store(int64(far))
	publishRev(t, gdc, gd, 3, f.revocation(gd, 3)) // a gap: 2 never comes
	waitBlocked(t, u, 1)
	waitFetched(t, u, 1)
	waitStats(t, u, "1 download over the byte rate", func(st SyncStats) bool { return st.SnapshotsOverByteRate == 1 })

	// Past minSnapshotFetchGap, well short of the byte rate's wait: the
	// member's higher snapshot is not downloaded yet.
	ahead.Store(int64(far + 3*minSnapshotFetchGap))
	putSnapshot(t, gdc, gd, f.snapshot(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		u.mu.Lock()
		defer u.mu.Unlock()
		if ptr := u.revs.pointers[gd]; ptr == nil || ptr.seq != 2 {
			return fmt.Errorf("pointer at seq 2 not seen yet")
		}
		return nil
	})
	if due := u.dueProvinces(); len(due) != 0 {
		t.Fatalf("%v due %v after a %d-byte download at %d bytes a minute", due, 3*minSnapshotFetchGap, len(first), rate)
	}
	if n := u.conn.Stats().SnapshotsFetched; n != 1 {
		t.Fatalf("%d snapshots downloaded within the byte rate's wait, want 1", n)
	}

	// Once the wait has passed, the genuine snapshot fills the gap.
	ahead.Store(int64(far + deferred + minSnapshotFetchGap))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 3) })
	waitUnblocked(t, u)
	waitFetched(t, u, 2)
}

// TestByteRateLeavesAnHonestCatchUpAtItsFloor: the snapshot of 100,000
// live revocations (issue 12's catch-up) defers its province's next
// download no longer than minSnapshotFetchGap, and the largest snapshot
// by at most a few minutes.
func TestByteRateLeavesAnHonestCatchUpAtItsFloor(t *testing.T) {
	t.Parallel()
	honest := trust.MaxStatementLen + 1 + 100_000*trust.SnapshotEntryLen
	if d := byteRateWait(honest, snapshotBytesPerMinute); d > minSnapshotFetchGap {
		t.Errorf("a %d-byte snapshot defers the next download by %v, over minSnapshotFetchGap (%v)", honest, d, minSnapshotFetchGap)
	}
	if d := byteRateWait(trust.MaxSnapshotLen, snapshotBytesPerMinute); d > 5*time.Minute || d < time.Minute {
		t.Errorf("the largest snapshot defers the next download by %v, want between 1 and 5 minutes", d)
	}
}

// TestSnapshotsFailingAfterTheirDownloadCostTheirByteRate: a member
// keeps a gap open and stores a large snapshot object that fails only
// once all of it is downloaded (a digest its chunks do not have, or a
// size they fall short of), then rewrites its pointer every second. The
// byte rate counted only snapshots downloaded whole and sound, so every
// peer downloaded the object again once per minSnapshotFetchGap. Now the
// bytes read of a failed download defer the next as a sound one's do,
// the deferral is counted, and the object is counted malformed.
func TestSnapshotsFailingAfterTheirDownloadCostTheirByteRate(t *testing.T) {
	const far = 10 * time.Minute
	const rate = 256 // bytes a minute
	body := bytes.Repeat([]byte("x"), 4096)
	for name, tc := range map[string]struct {
		size   uint64
		digest string
	}{
		"digest mismatch":       {uint64(len(body)), "SHA-256=" + base64.URLEncoding.EncodeToString(make([]byte, sha256.Size))},
		"short of its own size": {uint64(len(body)) + 1, ""},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			gdc, u, ahead := f.caughtUpWithClock(t)
			u.mu.Lock()
			u.snapRate = rate
			u.mu.Unlock()
			if tc.digest == "" {
				writeRawSnapshot(t, gdc, gdc.snapBucket, gd, "NBAD", tc.size, 1, body)
			} else {
				writeRawSnapshotDigest(t, gdc, gdc.snapBucket, gd, "NBAD", tc.size, 1, tc.digest, body)
			}
			ahead.Store(int64(far))
			publishRev(t, gdc, gd, 3, f.revocation(gd, 3)) // a gap: 2 never comes
			waitBlocked(t, u, 1)
			waitStats(t, u, "a fresh snapshot requested after the failed download",
				func(st SyncStats) bool { return st.SnapshotRequests >= 1 })

			ahead.Store(int64(far + 3*minSnapshotFetchGap))
			rewritePointer(t, gdc, u, 100) // due again at once, but for the gate
			if due := u.dueProvinces(); len(due) != 0 {
				t.Fatalf("%v due %v after a failed download of %d bytes at %d bytes a minute",
					due, 3*minSnapshotFetchGap, len(body), rate)
			}
			if st := u.Stats(); st.SnapshotsOverByteRate != 1 {
				t.Errorf("stats %+v: want 1 download over the byte rate", st)
			}
			if st := u.conn.Stats(); st.SnapshotsMalformed != 1 || st.SnapshotsFetched != 0 {
				t.Errorf("conn stats %+v: want 1 malformed snapshot and none fetched", st)
			}
		})
	}
}
