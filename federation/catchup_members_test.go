package federation

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestSyncFetchesNoSnapshotOfANonMember: anyone who can write the
// snapshot bucket and a revsnapshot key (a non-member with publish
// rights) can name provinces the trust list does not hold, each with a
// snapshot up to trust.MaxSnapshotLen (200 MB) and a pointer far ahead.
// Their pointers are still recorded (a trust list naming the province
// may come later), but no node may download their snapshots, which it
// could never apply: at start, four at a time before the stream is read,
// and then again after every backoff, ahead of the members' own
// catch-ups in the worker's queue. A member's snapshot is still fetched,
// at start and when its pointer moves on.
func TestSyncFetchesNoSnapshotOfANonMember(t *testing.T) {
	t.Parallel()
	const stranger, another = "120000", "130000" // named by no trust list
	f := newFixture(t)
	s := runServer(t)
	rogue := connectReady(t, s, "")
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	strangerSnapshot := func(p string) []byte {
		raw, err := trust.BuildRevocationSnapshot(f.p(bj).signer, p, 1_000_000, f.now.Unix(), f.entries(p, 1, 1000))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	putSnapshot(t, rogue, stranger, strangerSnapshot(stranger))

	var skew atomic.Int64 // how far the Sync's clock is ahead of the real one
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}).run(t)
	u.waitReady(t)
	if got := u.state.RevocationSeq(gd); got != 3 {
		t.Fatalf("%s's snapshot not applied at start: seq %d", gd, got)
	}
	if n := u.conn.Stats().SnapshotsFetched; n != 1 {
		t.Errorf("%d snapshots downloaded at start, want 1 (%s's, not %s's)", n, gd, stranger)
	}

	// Later pointers: one more stranger, and the member's next snapshot.
	// Once both have lagged past lagGrace the worker fetches what is due,
	// in province order: the stranger's would come first.
	putSnapshot(t, rogue, another, strangerSnapshot(another))
	putSnapshot(t, gdc, gd, f.snapshot(gd, 6))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, p := range []string{another, gd} {
			if _, ok := u.revs.pointers[p]; !ok {
				return fmt.Errorf("pointer of %s not seen yet", p)
			}
		}
		return nil
	})
	skew.Store(int64(2 * lagGrace))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := u.state.RevocationSeq(gd); got != 6 {
			return fmt.Errorf("%s at seq %d, want 6", gd, got)
		}
		return nil
	})
	if n := u.conn.Stats().SnapshotsFetched; n != 2 {
		t.Errorf("%d snapshots downloaded in all, want 2, both %s's", n, gd)
	}
}

// TestSyncFetchesSnapshotOnceTheTrustListNamesItsProvince: a pointer
// that arrives before any trust list held names its province (a province
// joining the federation, its node started before the operators listed
// it) is kept, and its snapshot fetched as soon as a list names it.
func TestSyncFetchesSnapshotOnceTheTrustListNamesItsProvince(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all := map[string]trust.MemberStatus{gd: trust.MemberActive, sh: trust.MemberActive, bj: trust.MemberActive}
	f.trustList = f.signTrustList(1, map[string]trust.MemberStatus{sh: trust.MemberActive, bj: trust.MemberActive})
	s := runServer(t)
	op := connectReady(t, s, "")
	gdc := connectReady(t, s, gd)
	put(t, op, "trustlist", f.trustList)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))

	var skew atomic.Int64
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}).run(t)
	u.waitReady(t)
	if got, n := u.state.RevocationSeq(gd), u.conn.Stats().SnapshotsFetched; got != 0 || n != 0 {
		t.Fatalf("before %s is listed: seq %d, %d snapshots downloaded; want none", gd, got, n)
	}

	put(t, op, "trustlist", f.signTrustList(2, all))
	skew.Store(int64(2 * lagGrace))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := u.state.RevocationSeq(gd); got != 3 {
			return fmt.Errorf("%s at seq %d, want 3", gd, got)
		}
		return nil
	})
}

// TestSyncHoldsABoundedNumberOfStrangersPointers: pointers written under
// made-up province ids are held up to maxStrangerPointers and refused
// past it (not_member); a member's pointer is always held.
func TestSyncHoldsABoundedNumberOfStrangersPointers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.newSync(nil, sh)
	if err := u.Restore(testCtx(t)); err != nil { // applies the pinned trust list
		t.Fatal(err)
	}
	const extra = 10
	for i := range maxStrangerPointers + extra {
		u.onPointer(fmt.Sprintf("%06d", 120000+i), []byte(`{"seq":1000000,"size":1,"digest":"x"}`))
	}
	u.onPointer(gd, []byte(`{"seq":3,"size":1,"digest":"x"}`))
	u.mu.Lock()
	held := len(u.revs.pointers)
	_, member := u.revs.pointers[gd]
	u.mu.Unlock()
	if held != maxStrangerPointers+1 || !member {
		t.Errorf("%d pointers held (%s's: %v), want %d strangers' and %s's", held, gd, member, maxStrangerPointers, gd)
	}
	if n := u.outcomes.count("revsnapshot/not_member"); n != extra {
		t.Errorf("%d strangers' pointers refused, want %d", n, extra)
	}
}
