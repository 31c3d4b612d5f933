package trust

import (
	"math"
	"testing"
	"time"
)

// A member province is trusted with its own codes only: whatever it
// signs, what peers hold of it stays bounded.

// TestStateHoldsAProvincesLiveRevocationsUpToTheLimit: a member
// publishing deltas without end cannot grow a peer's memory without end.
// A delta that would pass MaxLiveRevocations is refused (oversized) and
// nothing of it applied; entries held again or expired make no count; a
// snapshot, which holds every live revocation of its province, replaces
// what is held rather than adding to it.
func TestStateHoldsAProvincesLiveRevocationsUpToTheLimit(t *testing.T) {
	f := newStateFixture(t, StateConfig{MaxLiveRevocations: 3})
	f.withGuangdong(t)
	rev := func(seq uint64, jtis ...string) string {
		return signRevocation(t, f.GD.Active, revocationOf(t, f.GD, seq, f.Now, jtis...))
	}
	a, b, c, d := mustJTI(t), mustJTI(t), mustJTI(t), mustJTI(t)
	if _, err := f.State.ApplyRevocation(gd, rev(1, a, b), f.Now); err != nil {
		t.Fatal(err)
	}
	_, err := f.State.ApplyRevocation(gd, rev(2, c, d), f.Now)
	wantReason(t, err, ReasonOversized)
	if f.State.RevocationSeq(gd) != 1 || f.State.Revoked(gd, c) || f.State.RevokedLen() != 2 {
		t.Fatalf("a refused delta was applied in part: seq %d, %d held", f.State.RevocationSeq(gd), f.State.RevokedLen())
	}
	// a is held already: one more fits.
	if _, err := f.State.ApplyRevocation(gd, rev(2, a, c), f.Now); err != nil {
		t.Fatal(err)
	}
	// Once a, b and c have expired they make room, without a Prune.
	later := f.Now.Add(time.Hour + ClockSkew + time.Second)
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 3, later, d)), later); err != nil {
		t.Fatal(err)
	}
	if !f.State.Revoked(gd, d) || f.State.RevokedLen() != 1 {
		t.Fatalf("%d held after the expired made room, want 1", f.State.RevokedLen())
	}

	// Three held and a snapshot of three others: the snapshot replaces.
	e, g := mustJTI(t), mustJTI(t)
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 4, later, e, g)), later); err != nil {
		t.Fatal(err)
	}
	var es []RevocationEntry
	for range 3 {
		es = append(es, RevocationEntry{JTI: mustJTI(t), Expires: later.Add(time.Hour).Unix()})
	}
	snap, err := BuildRevocationSnapshot(f.GD.Active, gd, 5, later.Unix(), es)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, snap, later); err != nil {
		t.Fatal(err)
	}
	if f.State.RevokedLen() != 3 || !f.State.Revoked(gd, es[2].JTI) || f.State.Revoked(gd, d) {
		t.Fatalf("%d held after a snapshot of 3 over 3 held, want the snapshot's 3", f.State.RevokedLen())
	}
	// The node's own revocations are its database's: no limit.
	f.State.RevokeOwn(1, []RevocationEntry{{JTI: a, Expires: later.Add(time.Hour).Unix()}, {JTI: b, Expires: later.Add(time.Hour).Unix()},
		{JTI: c, Expires: later.Add(time.Hour).Unix()}, {JTI: d, Expires: later.Add(time.Hour).Unix()}}, later)
	if !f.State.Revoked(sh, d) {
		t.Fatal("own revocation past the limit not held")
	}
}

// TestStateHoldsARevocationNoLongerThanACodeCanLive: a member revoking
// codes "until 2106" would make every peer hold the entries for ever. No
// code lives longer than MaxCodeLifetime, so an entry is held at most
// MaxRevocationHold, from a delta or a snapshot.
func TestStateHoldsARevocationNoLongerThanACodeCanLive(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	forever := int64(math.MaxUint32)
	fromDelta, fromSnap := mustJTI(t), mustJTI(t)
	r := Revocation{Issuer: gd, Seq: 1, IssuedAt: f.Now.Unix(), Entries: []RevocationEntry{{JTI: fromDelta, Expires: forever}}}
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, r), f.Now); err != nil {
		t.Fatal(err)
	}
	snap, err := BuildRevocationSnapshot(f.GD.Active, gd, 2, f.Now.Unix(), []RevocationEntry{{JTI: fromSnap, Expires: forever}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, snap, f.Now); err != nil {
		t.Fatal(err)
	}
	f.State.Prune(f.Now.Add(MaxRevocationHold))
	if !f.State.Revoked(gd, fromDelta) || !f.State.Revoked(gd, fromSnap) {
		t.Fatal("an entry was forgotten while a code it names could still be shown")
	}
	f.State.Prune(f.Now.Add(MaxRevocationHold + ClockSkew + time.Second))
	if f.State.Revoked(gd, fromDelta) || f.State.Revoked(gd, fromSnap) || f.State.RevokedLen() != 0 {
		t.Fatalf("%d entries claiming to expire in 2106 still held past MaxRevocationHold", f.State.RevokedLen())
	}
}
