package trust

import (
	"testing"
	"time"
)

// revFreshMaxAge is the revocations limit of the freshness tests.
const revFreshMaxAge = 10 * time.Minute

// A node that stops hearing a province's revocations keeps verifying its
// codes only until what it holds of them is RevocationsMaxAge old: then a
// code not revoked in what it holds is revocations_stale, never ok. It
// answered ok for as long as trust_stale allowed (a day by default), for
// the code of a resident whose province had revoked it meanwhile. A
// revoked code stays revoked, and a heartbeat of the province naming a
// seq held makes its codes fresh again.
func TestVerifyRefusesCodesOfAProvinceWhoseRevocationsHeldAreTooOld(t *testing.T) {
	f := newStateFixture(t, StateConfig{RevocationsMaxAge: revFreshMaxAge})
	f.withGuangdong(t)
	code, _ := f.GD.good(t, f.Now)
	f.verify(t, code, f.Now, ReasonRevocationsStale) // no moment known yet
	if !f.State.NoteRevocationSeq(gd, 0, f.Now) {
		t.Fatal("a heartbeat naming seq 0 is not covered by a State holding none")
	}
	f.verify(t, code, f.Now, ReasonOK)
	if got := Verify(code, f.State.Snapshot(), f.State, f.Now.Add(time.Minute)).RevocationsAsOf; !got.Equal(f.Now) {
		t.Fatalf("result's RevocationsAsOf %v, want the heartbeat's time %v", got, f.Now)
	}
	f.verify(t, code, f.Now.Add(revFreshMaxAge), ReasonOK)
	late := f.Now.Add(revFreshMaxAge + time.Second)
	f.verify(t, code, late, ReasonRevocationsStale)

	// A code revoked in what is held is revoked, however old that is.
	other, ocl := f.GD.good(t, f.Now)
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 1, f.Now, ocl.JTI)), f.Now); err != nil {
		t.Fatal(err)
	}
	f.verify(t, other, late, ReasonRevoked)

	// A heartbeat naming the seq held makes the province fresh again.
	if !f.State.NoteRevocationSeq(gd, 1, late) {
		t.Fatal("a heartbeat naming the seq held is not covered")
	}
	f.verify(t, code, late, ReasonOK)
}

// A heartbeat naming a seq not applied yet does not make the province's
// revocations fresh: a revocation it counts is on its way, or lost. Once
// the seq is applied (by a delta, or a snapshot), they are fresh as of the
// heartbeat, not later.
func TestRevocationsAreFreshOnlyOnceTheHeartbeatsSeqIsApplied(t *testing.T) {
	f := newStateFixture(t, StateConfig{RevocationsMaxAge: revFreshMaxAge})
	f.withGuangdong(t)
	code, _ := f.GD.good(t, f.Now)
	f.State.NoteRevocationSeq(gd, 0, f.Now)
	t1, t2 := f.Now.Add(revFreshMaxAge), f.Now.Add(revFreshMaxAge+time.Minute)
	if f.State.NoteRevocationSeq(gd, 1, t1) || f.State.NoteRevocationSeq(gd, 2, t2) {
		t.Fatal("a heartbeat naming a seq not held reports itself covered")
	}
	after := t2.Add(time.Second)
	f.verify(t, code, after, ReasonRevocationsStale)
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 1, f.Now, mustJTI(t))), f.Now); err != nil {
		t.Fatal(err)
	}
	if got := f.State.RevocationsAsOf(gd); !got.Equal(t1) {
		t.Fatalf("with seq 1 applied, fresh as of %v, want the first heartbeat's %v", got, t1)
	}
	f.verify(t, code, after, ReasonOK)
	f.verify(t, code, t1.Add(revFreshMaxAge+time.Second), ReasonRevocationsStale)
	f.applyEmptySnapshot(t, 2, f.Now)
	if got := f.State.RevocationsAsOf(gd); !got.Equal(t2) {
		t.Fatalf("with seq 2 applied from a snapshot, fresh as of %v, want the second heartbeat's %v", got, t2)
	}
}

// A snapshot is a claim of its own: its node read the seq after the time
// it signed, so it covers every revocation made by then.
func TestRevocationSnapshotMakesItsProvinceFreshAsOfItsIssueTime(t *testing.T) {
	f := newStateFixture(t, StateConfig{RevocationsMaxAge: revFreshMaxAge})
	f.withGuangdong(t)
	at := f.Now.Add(time.Minute)
	f.applyEmptySnapshot(t, 3, at)
	if got := f.State.RevocationsAsOf(gd); !got.Equal(at) {
		t.Fatalf("fresh as of %v, want the snapshot's issue time %v", got, at)
	}
}

// A node's own revocations come from its database and are always
// current: its own codes are never revocations_stale. Nor is any code
// while the check is off.
func TestOwnCodesAndTheCheckOffAreNeverRevocationsStale(t *testing.T) {
	f := newStateFixture(t, StateConfig{RevocationsMaxAge: revFreshMaxAge, LocalRevocations: true})
	if err := f.State.ApplyKeyset(sh, f.SH.signedKeyset(t, 1, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	f.State.AddOwnContentKey(f.SH.CK)
	own := mustGoodOf(t, f.SH, f.Now)
	f.verify(t, own, f.Now.Add(time.Hour), ReasonOK)

	off := newStateFixture(t, StateConfig{})
	off.withGuangdong(t)
	code, _ := off.GD.good(t, off.Now)
	off.verify(t, code, off.Now.Add(time.Hour), ReasonOK)
}

// Claims waiting for their seq are bounded; a node far behind keeps the
// oldest and the newest, so the moment still advances as it catches up,
// and never past a claim whose seq is not held.
func TestRevocationClaimsWaitingAreBoundedAndNeverAdvanceTooFar(t *testing.T) {
	f := newRevFreshness(time.Minute, "")
	t0 := testNow
	for i := 1; i <= 3*maxRevClaims; i++ {
		f.claim(gd, uint64(i), t0.Add(time.Duration(i)*time.Second))
	}
	if n := len(f.claims[gd]); n != maxRevClaims {
		t.Fatalf("%d claims held, want %d", n, maxRevClaims)
	}
	if f.settle(gd, 1); !f.asOf[gd].Equal(t0.Add(time.Second)) {
		t.Fatalf("fresh as of %v with seq 1, want the first claim's time", f.asOf[gd])
	}
	last := uint64(3 * maxRevClaims)
	if f.settle(gd, last-1); !f.asOf[gd].Before(t0.Add(time.Duration(last) * time.Second)) {
		t.Fatalf("fresh as of %v with seq %d held: past the claim of seq %d", f.asOf[gd], last-1, last)
	}
	if f.settle(gd, last); !f.asOf[gd].Equal(t0.Add(time.Duration(last) * time.Second)) {
		t.Fatalf("fresh as of %v with every seq held, want the newest claim's time", f.asOf[gd])
	}
	// An older claim, or one no better than one held, changes nothing.
	f.claim(gd, 1, t0)
	if len(f.claims[gd]) != 0 {
		t.Fatalf("a claim older than the moment held was kept: %v", f.claims[gd])
	}
}

// applyEmptySnapshot applies Guangdong's snapshot of seq, issued at iat,
// holding no live revocation.
func (f *stateFixture) applyEmptySnapshot(t *testing.T, seq uint64, iat time.Time) {
	t.Helper()
	snap, err := BuildRevocationSnapshot(f.GD.Active, gd, seq, iat.Unix(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, snap, f.Now); err != nil {
		t.Fatal(err)
	}
}
