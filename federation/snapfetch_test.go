package federation

import (
	"fmt"
	"testing"
	"time"
)

// rewritePointer has gd's node (a member with genuine keys) rewrite its
// snapshot pointer to claim seq, leaving its snapshot as it is, and waits
// until u has seen the pointer.
func rewritePointer(t *testing.T, gdc *Conn, u *syncUnderTest, seq uint64) {
	t.Helper()
	put(t, gdc, "440000.revsnapshot", fmt.Appendf(nil, `{"seq":%d,"size":1,"digest":"x"}`, seq))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		u.mu.Lock()
		defer u.mu.Unlock()
		if ptr := u.revs.pointers[gd]; ptr == nil || ptr.seq != seq {
			return fmt.Errorf("pointer at seq %d not seen yet", seq)
		}
		return nil
	})
}

// waitFetched waits until u has downloaded n snapshots.
func waitFetched(t *testing.T, u *syncUnderTest, n uint64) {
	t.Helper()
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := u.conn.Stats().SnapshotsFetched; got != n {
			return fmt.Errorf("%d snapshots downloaded, want %d", got, n)
		}
		return nil
	})
}

// TestRewrittenPointersDoNotForceRepeatedDownloads: a member blocks its
// peers on a gap, and then rewrites its snapshot pointer again and again,
// each time claiming a seq above what its snapshot holds. Each new
// pointer made the snapshot due at once, so every peer downloaded the
// same snapshot (up to trust.MaxSnapshotLen) once per rewrite. Now a
// province's snapshot is downloaded at most once in minSnapshotFetchGap
// whatever its pointers say, and less often on catchupBackoff while its
// downloads fall short of their pointer; each of those is counted; and
// the member's genuine snapshot still fills the gap once the gate opens.
// The Sync's clock jumps ahead for each download the test lets through,
// and back to let none through while pointers are rewritten.
func TestRewrittenPointersDoNotForceRepeatedDownloads(t *testing.T) {
	t.Parallel()
	const far = 10 * time.Minute
	f := newFixture(t)
	gdc, u, ahead := f.caughtUpWithClock(t)
	putSnapshot(t, gdc, gd, f.snapshot(gd, 1))
	ahead.Store(int64(far))
	publishRev(t, gdc, gd, 3, f.revocation(gd, 3)) // a gap: 2 never comes
	waitBlocked(t, u, 1)
	waitFetched(t, u, 1)

	ahead.Store(0)
	for seq := uint64(100); seq < 105; seq++ {
		rewritePointer(t, gdc, u, seq)
	}
	if n := u.conn.Stats().SnapshotsFetched; n != 1 {
		t.Fatalf("%d snapshots downloaded after 5 rewritten pointers, want 1", n)
	}
	if st := u.Stats(); st.SnapshotsBehindPointer != 0 {
		t.Fatalf("stats %+v: a snapshot that matched its pointer was counted behind it", st)
	}

	ahead.Store(int64(2 * far))
	waitFetched(t, u, 2)
	waitStats(t, u, "1 snapshot behind its pointer", func(st SyncStats) bool { return st.SnapshotsBehindPointer == 1 })
	ahead.Store(int64(far))
	for seq := uint64(105); seq < 110; seq++ {
		rewritePointer(t, gdc, u, seq)
	}
	if n := u.conn.Stats().SnapshotsFetched; n != 2 {
		t.Fatalf("%d snapshots downloaded after 5 more rewritten pointers, want 2", n)
	}

	// The member's next genuine snapshot fills the gap once the gate opens.
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	ahead.Store(int64(3*far + retryMax))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 3) })
	waitUnblocked(t, u)
	if st := u.Stats(); st.SnapshotsBehindPointer != 1 {
		t.Errorf("stats %+v: the genuine snapshot was counted behind its pointer", st)
	}
}

// TestGapAfterStartUpDownloadAsksForAFreshSnapshotFirst: a peer that
// downloaded a province's snapshot at start-up, on a gap, downloaded the
// same snapshot again (the pointer had not moved) before asking for a
// fresh one. Now it asks at once, and downloads the fresh snapshot once
// its pointer comes.
func TestGapAfterStartUpDownloadAsksForAFreshSnapshotFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, gdc := f.gdAtDelta1(t)
	putSnapshot(t, gdc, gd, f.snapshot(gd, 1))
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)
	waitFetched(t, u, 1) // at start-up

	publishRev(t, gdc, gd, 3, f.revocation(gd, 3)) // a gap: 2 never comes
	waitStats(t, u, "a fresh snapshot requested", func(st SyncStats) bool { return st.SnapshotRequests >= 1 })
	if n := u.conn.Stats().SnapshotsFetched; n != 1 {
		t.Fatalf("%d snapshots downloaded before asking for a fresh one, want 1 (the start-up's)", n)
	}

	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 3) })
	waitUnblocked(t, u)
	waitFetched(t, u, 2)
}
