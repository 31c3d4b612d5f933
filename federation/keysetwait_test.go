package federation

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// A statement whose kid the province's keyset does not hold is
// unknown_key: it waits for a keyset issued no earlier than it (at most
// KeysetWait), which applies it if it lists the key and refuses it if not.

// deltaBy is gd's delta seq revoking code seq, signed by s at iat.
func (f *fixture) deltaBy(s *trust.StatementSigner, seq uint64, iat time.Time) []byte {
	f.t.Helper()
	raw, err := s.Sign(trust.TypRevocation, trust.Revocation{Issuer: gd, Seq: seq, IssuedAt: iat.Unix(),
		Entries: f.entries(gd, int(seq), int(seq)+1)})
	if err != nil {
		f.t.Fatal(err)
	}
	return []byte(raw)
}

// newSigner is a signing key no keyset lists.
func newSigner(t *testing.T) *trust.StatementSigner {
	t.Helper()
	s, err := trust.NewStatementSigner(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// caughtUpWithClock is caughtUpAfterDelta1 with the Sync's clock ahead of
// time.Now by what the test stores in ahead.
func (f *fixture) caughtUpWithClock(t *testing.T) (gdc *Conn, u *syncUnderTest, ahead *atomic.Int64) {
	t.Helper()
	ahead = new(atomic.Int64)
	gdc, u = f.caughtUpAfterDelta1(t, func(c *SyncConfig) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	return gdc, u, ahead
}

// waitBlocked waits until u holds one province blocked with parked deltas.
func waitBlocked(t *testing.T, u *syncUnderTest, parked int) {
	t.Helper()
	waitStats(t, u, fmt.Sprintf("1 province blocked with %d parked", parked),
		func(st SyncStats) bool { return st.Blocked == 1 && st.Parked == parked })
}

// waitUnblocked waits until u holds no province blocked and no delta
// parked.
func waitUnblocked(t *testing.T, u *syncUnderTest) {
	t.Helper()
	waitStats(t, u, "nothing blocked or parked", func(st SyncStats) bool { return st.Blocked == 0 && st.Parked == 0 })
}

// waitStats waits until u's stats are as ok wants, described by want.
func waitStats(t *testing.T, u *syncUnderTest, want string, ok func(SyncStats) bool) {
	t.Helper()
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); !ok(st) {
			return fmt.Errorf("stats %+v: want %s", st, want)
		}
		return nil
	})
}

// TestDeltaOfANewKeyIsAppliedFromTheHeldCopyOnceItsKeysetArrives: a key
// created at once (a compromised active key replaced with no next key
// published) signs deltas and a grant that reach a peer before the
// keyset listing it. They are held, not refused, and applied from the
// held copies when the keyset comes: no snapshot exists to fill them.
func TestDeltaOfANewKeyIsAppliedFromTheHeldCopyOnceItsKeysetArrives(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u := f.caughtUpAfterDelta1(t)
	k2 := newSigner(t)

	publishRev(t, gdc, gd, 2, f.deltaBy(k2, 2, f.now))
	publishRev(t, gdc, gd, 3, f.deltaBy(k2, 3, f.now))
	grant, err := trust.GrantContentKey(k2, gd, sh, &f.p(sh).enc.PublicKey, f.p(gd).ck, f.now)
	if err != nil {
		t.Fatal(err)
	}
	put(t, gdc, "440000.contentkey.310000", []byte(grant))
	waitBlocked(t, u, 2)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Pending != 1 {
			return fmt.Errorf("stats %+v: want the grant held", st)
		}
		return nil
	})
	if u.state.Revoked(gd, jti(gd, 2)) {
		t.Fatal("a delta of a key no keyset lists was applied")
	}

	put(t, gdc, "440000.keyset", f.keysetOfTwo(2, f.now, trust.KeyRetired, k2, trust.KeyActive))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 3) })
	u.waitOutcome(t, "contentkey/ok", 1)
	st := u.Stats()
	if st.Blocked != 0 || st.Parked != 0 || st.Pending != 0 || st.Rejected != 0 {
		t.Errorf("stats %+v: want nothing blocked, parked, held or refused", st)
	}
	if st.Gaps != 0 || st.SnapshotsApplied != 0 || st.SnapshotRequests != 0 {
		t.Errorf("stats %+v: the deltas were filled from a snapshot, not applied from the held copies", st)
	}
}

// TestDeltaOfAMadeUpKidIsRefusedByANewerKeysetAndBlocksNothing: a delta
// with a random kid waits for a keyset; one issued after it that still
// does not list its key refuses it as unknown_key, and the province's
// deltas go on.
func TestDeltaOfAMadeUpKidIsRefusedByANewerKeysetAndBlocksNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u := f.caughtUpAfterDelta1(t)

	publishRev(t, gdc, gd, 2, f.deltaBy(newSigner(t), 2, f.now))
	waitBlocked(t, u, 1)
	put(t, gdc, "440000.keyset", f.keysetOfTwo(2, f.now.Add(time.Minute), trust.KeyActive, newSigner(t), trust.KeyNext))
	u.waitOutcome(t, "revocations/unknown_key", 1)
	waitUnblocked(t, u)
	if u.state.Revoked(gd, jti(gd, 2)) {
		t.Fatal("the made-up delta was applied")
	}

	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	publishRev(t, gdc, gd, 3, f.revocation(gd, 3))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 3) })
	if st := u.Stats(); st.Gaps != 0 || st.Blocked != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestDeltaOfAMadeUpKidWaitsBoundedAndHoldsUpNoGenuineDelta: nobody can
// check a made-up kid's signature, so its claims bound the wait: one
// dated in the future is refused at once, and one dated now waits at
// most KeysetWait. While it waits, the province's next genuine delta is
// applied as it arrives.
func TestDeltaOfAMadeUpKidWaitsBoundedAndHoldsUpNoGenuineDelta(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u, ahead := f.caughtUpWithClock(t)
	rogue := newSigner(t)

	// Dated past the clock-skew allowance: it could hold the province
	// until a keyset that never comes.
	publishRev(t, gdc, gd, 2, f.deltaBy(rogue, 2, time.Now().Add(trust.ClockSkew+time.Hour)))
	u.waitOutcome(t, "revocations/unknown_key", 1)
	if st := u.Stats(); st.Blocked != 0 {
		t.Fatalf("stats %+v: a delta from the future was held", st)
	}

	// Dated now, claiming seq 3: held. Genuine 2 and 3 are applied as
	// they come; the forgery is covered.
	publishRev(t, gdc, gd, 3, f.deltaBy(rogue, 3, time.Now()))
	waitBlocked(t, u, 1)
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 2) })
	publishRev(t, gdc, gd, 3, f.revocation(gd, 3))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 3) })

	// Claiming seq 5: held until KeysetWait has passed, then refused.
	publishRev(t, gdc, gd, 5, f.deltaBy(rogue, 5, time.Now()))
	waitBlocked(t, u, 1)
	ahead.Store(int64(DefaultKeysetWait))
	u.waitOutcome(t, "revocations/unknown_key", 2)
	waitUnblocked(t, u)
	if u.state.Revoked(gd, jti(gd, 5)) {
		t.Fatal("a made-up delta was applied")
	}
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
}
