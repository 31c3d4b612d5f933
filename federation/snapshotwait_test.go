package federation

import (
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// snapshotBy is gd's snapshot at seq, revoking codes 1..seq, signed by s
// at iat.
func (f *fixture) snapshotBy(s *trust.StatementSigner, seq uint64, iat time.Time) []byte {
	f.t.Helper()
	raw, err := trust.BuildRevocationSnapshot(s, gd, seq, iat.Unix(), f.entries(gd, 1, int(seq)+1))
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// waitPending waits until u holds n statements waiting for what they
// depend on.
func waitPending(t *testing.T, u *syncUnderTest, n int) {
	t.Helper()
	waitStats(t, u, fmt.Sprintf("%d waiting", n), func(st SyncStats) bool { return st.Pending == n })
}

// TestSnapshotOfANewKeyWaitsForItsKeysetAndAsksForNoOther: after a
// rotation, a peer behind by a gap finds the only snapshot there is
// signed by a key its keyset does not list yet. The snapshot waits for
// the keyset, as a delta does: it is not reported refused, not fetched
// again and again, and no fresh one (signed by the same key) is asked
// for; the keyset's arrival applies it.
func TestSnapshotOfANewKeyWaitsForItsKeysetAndAsksForNoOther(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u := f.caughtUpAfterDelta1(t)
	k2 := newSigner(t)

	putSnapshot(t, gdc, gd, f.snapshotBy(k2, 3, f.now))
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4)) // a gap: 2 and 3 are lost
	waitPending(t, u, 1)
	if n := u.outcomes.count("revsnapshot/unknown_key"); n != 0 {
		t.Fatalf("the snapshot was refused %d times while its keyset was on its way", n)
	}
	if st := u.Stats(); st.SnapshotRequests != 0 || st.Blocked != 1 {
		t.Fatalf("stats %+v: want gd blocked and no fresh snapshot asked for", st)
	}

	put(t, gdc, "440000.keyset", f.keysetOfTwo(2, f.now, trust.KeyRetired, k2, trust.KeyActive))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
	waitUnblocked(t, u)
	waitPending(t, u, 0)
	if st := u.Stats(); st.Rejected != 0 || st.SnapshotsApplied != 1 {
		t.Errorf("stats %+v: want the snapshot applied and nothing refused", st)
	}
}

// TestSnapshotOfAMadeUpKidWaitsBounded: a snapshot signed by a kid no
// keyset lists cannot be checked, so its claims bound its wait as a
// delta's do: dated past the clock-skew allowance it is refused at once,
// and dated now it waits at most KeysetWait and is then refused.
func TestSnapshotOfAMadeUpKidWaitsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u, ahead := f.caughtUpWithClock(t)
	rogue := newSigner(t)

	putSnapshot(t, gdc, gd, f.snapshotBy(rogue, 3, time.Now().Add(trust.ClockSkew+time.Hour)))
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	u.waitOutcome(t, "revsnapshot/unknown_key", 1)
	if st := u.Stats(); st.Pending != 0 {
		t.Fatalf("stats %+v: a snapshot from the future waits", st)
	}

	putSnapshot(t, gdc, gd, f.snapshotBy(rogue, 3, time.Now()))
	waitPending(t, u, 1)
	ahead.Store(int64(DefaultKeysetWait))
	u.waitOutcome(t, "revsnapshot/unknown_key", 2)
	waitPending(t, u, 0)
	if u.state.Revoked(gd, jti(gd, 2)) {
		t.Fatal("a snapshot of a made-up kid was applied")
	}

	// The genuine snapshot fills the gap.
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
}

// TestAMembersRevocationsPastTheLimitAreRefusedAndOthersGoOn: a member
// publishing revocations without end is refused (oversized) once its
// live revocations would pass the limit; another province's go on.
func TestAMembersRevocationsPastTheLimitAreRefusedAndOthersGoOn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	gdc, bjc := connectReady(t, s, gd), connectReady(t, s, bj)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	put(t, bjc, "110000.keyset", f.keyset(bj, 1))
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) {
		st, err := trust.NewState(trust.StateConfig{Self: sh, EncKey: f.p(sh).enc, PinnedSHA256: f.pinnedSHA256(),
			MaxLiveRevocations: 3})
		if err != nil {
			t.Fatal(err)
		}
		c.State = st
	}).run(t)
	u.waitReady(t)

	publishRev(t, gdc, gd, 1, f.revocationOf(gd, 1, f.entries(gd, 1, 3)))
	publishRev(t, gdc, gd, 2, f.revocationOf(gd, 2, f.entries(gd, 3, 5)))
	u.waitOutcome(t, "revocations/oversized", 1)
	if u.state.RevocationSeq(gd) != 1 || u.state.Revoked(gd, jti(gd, 3)) {
		t.Fatal("a delta past the limit was applied")
	}
	publishRev(t, bjc, bj, 1, f.revocationOf(bj, 1, f.entries(bj, 1, 4)))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, bj, 3) })
}
