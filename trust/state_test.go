package trust

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// stateFixture is Shanghai's node: a State for 310000 that has installed
// the federation's trust list v1 by pin.
type stateFixture struct {
	*testFederation
	Ops   *testOperators
	State *State
}

func newStateFixture(t *testing.T, cfg StateConfig) *stateFixture {
	t.Helper()
	f := &stateFixture{testFederation: newTestFederation(t, testNow), Ops: newOperators(t, "op", 3)}
	doc := signTrustList(t, f.trustList(t, f.Ops, 2, 1), f.Ops.Keys[0], f.Ops.Keys[1])
	cfg.Self, cfg.EncKey, cfg.PinnedSHA256 = sh, f.SH.Enc, mustParseTrustList(t, doc).SHA256()
	s, err := NewState(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyTrustList(doc, f.Now); err != nil {
		t.Fatal(err)
	}
	f.State = s
	return f
}

// verify checks code against the State's current snapshot and revocations.
func (f *stateFixture) verify(t *testing.T, code string, at time.Time, want Reason) {
	t.Helper()
	if r := Verify(code, f.State.Snapshot(), f.State, at); r.Reason != want {
		t.Fatalf("Verify = %q, want %q", r.Reason, want)
	}
}

// withGuangdong applies Guangdong's keyset and grants its content key to Shanghai.
func (f *stateFixture) withGuangdong(t *testing.T) {
	t.Helper()
	if err := f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 1, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyGrant(gd, grant(t, f.GD, f.SH, f.GD.CK, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
}

func TestStateVerifiesPeerCodesOnceKeysetAndGrantApplied(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	code := mustGood(t, f.testFederation)
	f.verify(t, code, f.Now, ReasonUnknownKey)
	if err := f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 1, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	f.verify(t, code, f.Now, ReasonNoContentKey)
	if err := f.State.ApplyGrant(gd, grant(t, f.GD, f.SH, f.GD.CK, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	f.verify(t, code, f.Now, ReasonOK)
	if ids := f.State.ContentKeyIDs(gd); len(ids) != 1 || ids[0] != f.GD.CK.ID {
		t.Fatalf("content keys %v", ids)
	}
}

func TestStateRefusesFirstTrustListThatIsNotPinned(t *testing.T) {
	f := newTestFederation(t, testNow)
	ops := newOperators(t, "op", 2)
	doc := signTrustList(t, f.trustList(t, ops, 2, 1), ops.Keys...)
	s, err := NewState(StateConfig{Self: sh, PinnedSHA256: "00"})
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, s.ApplyTrustList(doc, f.Now), ReasonWrongSigner)
	if s.TrustList() != nil || len(s.Snapshot().Members) != 0 {
		t.Fatal("refused trust list was applied")
	}
	if _, err := NewState(StateConfig{Self: "31000"}); err == nil {
		t.Fatal("State for a malformed province id")
	}
}

// Before any trust list a standalone node trusts its own root only.
func TestStateTrustsOnlyItsOwnRootBeforeTrustList(t *testing.T) {
	f := newTestFederation(t, testNow)
	s, err := NewState(StateConfig{Self: sh, SelfRoot: &f.SH.Root.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyKeyset(sh, f.SH.signedKeyset(t, 1, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	s.AddOwnContentKey(f.SH.CK)
	code, _ := f.SH.good(t, f.Now)
	if r := Verify(code, s.Snapshot(), s, f.Now); r.Reason != ReasonOK {
		t.Fatalf("own code: %q", r.Reason)
	}
	wantReason(t, s.ApplyKeyset(gd, f.GD.signedKeyset(t, 1, f.Now), f.Now), ReasonUnknownIssuer)
}

func TestStateApplyKeysetRefusesWrongRootAndRollback(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	forged, err := SignKeyset(f.SH.Root, f.GD.keyset(t, 5, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, f.State.ApplyKeyset(gd, forged, f.Now), ReasonWrongSigner)
	wantReason(t, f.State.ApplyKeyset(removed, f.Removed.signedKeyset(t, 1, f.Now), f.Now), ReasonUnknownIssuer)
	wantReason(t, f.State.ApplyKeyset("650000", f.GD.signedKeyset(t, 1, f.Now), f.Now), ReasonUnknownIssuer)
	if err := f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 2, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	wantReason(t, f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 1, f.Now), f.Now), ReasonRollback)
	wantReason(t, f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 2, f.Now), f.Now), ReasonRollback)
	if f.State.Keyset(gd).Version != 2 {
		t.Fatal("refused keyset replaced the held one")
	}
}

// When the operators replace a province's root, keysets signed by the old
// root stop counting at once: whoever stole the old root cannot keep
// speaking for the province.
func TestStateDropsKeysetsWhenRootChangesOrMemberIsRemoved(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	code := mustGood(t, f.testFederation)
	f.verify(t, code, f.Now, ReasonOK)

	newRoot := mustKey(t)
	tl := f.trustList(t, f.Ops, 2, 2)
	for i := range tl.Members {
		if tl.Members[i].ID == gd {
			tl.Members[i].Root = jwkJSON(t, &newRoot.PublicKey)
		}
	}
	if err := f.State.ApplyTrustList(signTrustList(t, tl, f.Ops.Keys[0], f.Ops.Keys[2]), f.Now); err != nil {
		t.Fatal(err)
	}
	if f.State.Keyset(gd) != nil {
		t.Fatal("keyset under the old root kept")
	}
	f.verify(t, code, f.Now, ReasonUnknownKey)
	wantReason(t, f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 3, f.Now), f.Now), ReasonWrongSigner)
	// Under the new root the same keys are trusted again.
	reissued, err := SignKeyset(newRoot, f.GD.keyset(t, 3, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyKeyset(gd, reissued, f.Now); err != nil {
		t.Fatal(err)
	}
	f.verify(t, code, f.Now, ReasonOK)

	tl = f.trustList(t, f.Ops, 2, 3)
	for i := range tl.Members {
		if tl.Members[i].ID == gd {
			tl.Members[i].Root, tl.Members[i].Status = jwkJSON(t, &newRoot.PublicKey), MemberRemoved
		}
	}
	if err := f.State.ApplyTrustList(signTrustList(t, tl, f.Ops.Keys[1], f.Ops.Keys[2]), f.Now); err != nil {
		t.Fatal(err)
	}
	if f.State.Keyset(gd) != nil {
		t.Fatal("keyset of a removed member kept")
	}
	f.verify(t, code, f.Now, ReasonUnknownIssuer)
}

func TestStateRefusesTrustListBelowThreshold(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	wantReason(t, f.State.ApplyTrustList(signTrustList(t, f.trustList(t, f.Ops, 2, 2), f.Ops.Keys[0]), f.Now), ReasonThreshold)
	if f.State.TrustList().Version != 1 {
		t.Fatal("refused trust list applied")
	}
}

func TestStateApplyRevocationInSequenceAndReportsGaps(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	code, cl := f.GD.good(t, f.Now)
	other, otherCl := f.GD.good(t, f.Now)
	rev := func(seq uint64, jtis ...string) string {
		return signRevocation(t, f.GD.Active, revocationOf(t, f.GD, seq, f.Now, jtis...))
	}
	if gap, err := f.State.ApplyRevocation(gd, rev(1, cl.JTI), f.Now); gap || err != nil {
		t.Fatalf("seq 1: gap %v, %v", gap, err)
	}
	f.verify(t, code, f.Now, ReasonRevoked)
	f.verify(t, malleate(t, code), f.Now, ReasonRevoked)
	f.verify(t, other, f.Now, ReasonOK)

	_, err := f.State.ApplyRevocation(gd, rev(1, cl.JTI), f.Now)
	wantReason(t, err, ReasonRollback)
	gap, err := f.State.ApplyRevocation(gd, rev(3, otherCl.JTI), f.Now)
	if !gap || err != nil {
		t.Fatalf("seq 3 after 1: gap %v, %v", gap, err)
	}
	f.verify(t, other, f.Now, ReasonOK) // nothing applied across a gap
	if f.State.RevocationSeq(gd) != 1 {
		t.Fatalf("seq %d after a gap", f.State.RevocationSeq(gd))
	}
	// A snapshot closes the gap.
	snap, err := BuildRevocationSnapshot(f.GD.Active, gd, 3, f.Now.Unix(),
		[]RevocationEntry{{JTI: cl.JTI, Expires: cl.Expires}, {JTI: otherCl.JTI, Expires: otherCl.Expires}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, snap, f.Now); err != nil {
		t.Fatal(err)
	}
	f.verify(t, other, f.Now, ReasonRevoked)
	old, _ := BuildRevocationSnapshot(f.GD.Active, gd, 2, f.Now.Unix(), nil)
	wantReason(t, f.State.ApplyRevocationSnapshot(gd, old, f.Now), ReasonRollback)
	// Another province's key cannot revoke Guangdong's codes: it is not
	// in Guangdong's keyset.
	_, err = f.State.ApplyRevocation(gd, signRevocation(t, f.SH.Active, revocationOf(t, f.GD, 4, f.Now, cl.JTI)), f.Now)
	wantReason(t, err, ReasonUnknownKey)
	_, err = f.State.ApplyRevocation(bj, rev(1), f.Now)
	wantReason(t, err, ReasonUnknownIssuer)
}

func TestStateApplyGrantRefusesOtherRecipientsAndExpiredKeys(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	wantReason(t, f.State.ApplyGrant(gd, grant(t, f.GD, f.SH, f.GD.CK, f.Now), f.Now), ReasonUnknownIssuer)
	if err := f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 1, f.Now), f.Now); err != nil {
		t.Fatal(err)
	}
	wantReason(t, f.State.ApplyGrant(gd, grant(t, f.GD, f.BJ, f.GD.CK, f.Now), f.Now), ReasonNotRecipient)
	wantReason(t, f.State.ApplyGrant(gd, grant(t, f.GD, f.SH, f.GD.CK, f.Now), f.GD.CK.Expires.Add(time.Second)), ReasonExpired)
	if len(f.State.ContentKeyIDs(gd)) != 0 {
		t.Fatal("refused grant installed a key")
	}
	noEnc, err := NewState(StateConfig{Self: sh})
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, noEnc.ApplyGrant(gd, "x", f.Now), ReasonUnknownIssuer)
}

// A province whose database was restored from an old backup granted new
// content keys under the ids of keys it had made after the backup: peers
// replaced the key they held, and every code issued under the lost one
// answered bad_content. A peer now keeps the key it holds, refuses the
// other material under its id (content_key_conflict, naming it), and
// takes the grant's other keys; the same key granted again is no
// conflict.
func TestStateKeepsAHeldContentKeyAGrantNamesWithOtherMaterial(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	code := mustGood(t, f.testFederation)
	f.verify(t, code, f.Now, ReasonOK)
	if err := f.State.ApplyGrant(gd, grant(t, f.GD, f.SH, f.GD.CK, f.Now), f.Now); err != nil {
		t.Fatalf("the key held granted again: %v", err)
	}
	other := f.GD.CK
	other.Key = fixedBytes("other material", ContentKeyLen)
	fresh := ContentKey{ID: f.GD.CK.ID + ".1", Key: fixedBytes("fresh", ContentKeyLen), NotBefore: f.Now, Expires: f.GD.CK.Expires}
	err := f.State.ApplyGrant(gd, grantOf(t, f.GD, f.SH, []ContentKey{other, fresh}, f.Now), f.Now)
	wantReason(t, err, ReasonContentKeyConflict)
	if !strings.Contains(err.Error(), f.GD.CK.ID) {
		t.Errorf("the refusal %q does not name the key %s", err, f.GD.CK.ID)
	}
	f.verify(t, code, f.Now, ReasonOK)
	if _, held := f.State.Snapshot().ContentKeys[gd][fresh.ID]; !held {
		t.Error("the grant's other key was not taken")
	}
}

// A held content key past its expiry but not yet pruned still refused
// a grant of other material under its id (content_key_conflict). Once
// past its expiry and the clock skew it verifies no code, and is
// replaced; within the skew, codes under it still verify, and it is
// kept.
func TestStateReplacesAnExpiredHeldContentKeyAGrantNamesWithOtherMaterial(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	other := f.GD.CK
	other.Key = fixedBytes("other material", ContentKeyLen)
	other.Expires = f.GD.CK.Expires.Add(48 * time.Hour)
	within := f.GD.CK.Expires.Add(ClockSkew)
	wantReason(t, f.State.ApplyGrant(gd, grantOf(t, f.GD, f.SH, []ContentKey{other}, f.Now), within), ReasonContentKeyConflict)
	past := within.Add(time.Second)
	if err := f.State.ApplyGrant(gd, grantOf(t, f.GD, f.SH, []ContentKey{other}, f.Now), past); err != nil {
		t.Fatalf("a grant naming an expired held key's id: %v", err)
	}
	if held := f.State.Snapshot().ContentKeys[gd][other.ID]; !bytes.Equal(held.Key, other.Key) || !held.Expires.Equal(other.Expires) {
		t.Errorf("held %s expiring %v, want the granted key", other.ID, held.Expires)
	}
}

func TestStateGoesStaleAfterSyncLimitOrTrustListExpiry(t *testing.T) {
	f := newStateFixture(t, StateConfig{StaleLimit: time.Hour})
	f.withGuangdong(t)
	code := mustGood(t, f.testFederation)
	f.State.MarkSynced(f.Now)
	f.verify(t, code, f.Now.Add(time.Hour), ReasonOK)
	f.verify(t, code, f.Now.Add(time.Hour+time.Second), ReasonTrustStale)
	f.State.MarkSynced(f.Now.Add(2 * time.Hour))
	f.verify(t, code, f.Now.Add(2*time.Hour), ReasonOK)
	// The trust list's own expiry bounds everything, however recent the sync.
	exp := f.State.TrustList().ExpiresAt()
	f.State.MarkSynced(exp)
	if got := f.State.Snapshot().StaleAfter; !got.Equal(exp) {
		t.Fatalf("StaleAfter %v, want the trust list's expiry %v", got, exp)
	}
}

func TestStatePruneForgetsOnlyExpiredRevocationsAndContentKeys(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	short := []RevocationEntry{{JTI: mustJTI(t), Expires: f.Now.Add(time.Hour).Unix()}}
	long := []RevocationEntry{{JTI: mustJTI(t), Expires: f.Now.Add(48 * time.Hour).Unix()}}
	f.State.RevokeOwn(7, append(short, long...), f.Now)
	if f.State.RevocationSeq(sh) != 7 || !f.State.Revoked(sh, short[0].JTI) || f.State.RevokedLen() != 2 {
		t.Fatal("own revocations not recorded")
	}
	f.State.RevokeOwn(5, nil, f.Now)
	if f.State.RevocationSeq(sh) != 7 {
		t.Fatal("own seq went back")
	}
	f.State.Prune(f.Now.Add(time.Hour + ClockSkew))
	if !f.State.Revoked(sh, short[0].JTI) {
		t.Fatal("pruned within clock skew")
	}
	f.State.Prune(f.Now.Add(2 * time.Hour))
	if f.State.Revoked(sh, short[0].JTI) || !f.State.Revoked(sh, long[0].JTI) || f.State.RevokedLen() != 1 {
		t.Fatal("prune kept an expired revocation or dropped a live one")
	}
	f.State.Prune(f.GD.CK.Expires.Add(ClockSkew + time.Second))
	if len(f.State.ContentKeyIDs(gd)) != 0 {
		t.Fatal("expired content key kept")
	}
}

func TestStateOfUnlistedProvinceTrustsItselfButNotPeersAccept(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	cq := newTestProvince(t, "500000", f.Now)
	doc := signTrustList(t, f.trustList(t, f.Ops, 2, 1), f.Ops.Keys[0], f.Ops.Keys[1])
	s, err := NewState(StateConfig{Self: cq.ID, EncKey: cq.Enc, SelfRoot: &cq.Root.PublicKey,
		PinnedSHA256: mustParseTrustList(t, doc).SHA256()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyTrustList(doc, f.Now); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyKeyset(cq.ID, cq.signedKeyset(t, 1, f.Now), f.Now); err != nil {
		t.Fatalf("unlisted node refused its own keyset: %v", err)
	}
	s.AddOwnContentKey(cq.CK)
	code, _ := cq.good(t, f.Now)
	if r := Verify(code, s.Snapshot(), s, f.Now); r.Reason != ReasonOK {
		t.Fatalf("unlisted node's own code: %q", r.Reason)
	}
	// A listed peer does not accept the unlisted province.
	wantReason(t, f.State.ApplyKeyset(cq.ID, cq.signedKeyset(t, 1, f.Now), f.Now), ReasonUnknownIssuer)
}

func TestStateRestoresCachedTrustListAsAnchor(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	// v2 rotates every operator: only v2's own operators can sign v3.
	newOps := newOperators(t, "new", 3)
	v2 := f.trustList(t, newOps, 2, 2)
	doc2 := signTrustList(t, v2, f.Ops.Keys[0], f.Ops.Keys[1], newOps.Keys[0], newOps.Keys[1])
	if err := f.State.ApplyTrustList(doc2, f.Now); err != nil {
		t.Fatal(err)
	}
	doc3 := signTrustList(t, f.trustList(t, newOps, 2, 3), newOps.Keys[0], newOps.Keys[1])

	restarted, err := NewState(StateConfig{Self: sh, EncKey: f.SH.Enc})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.RestoreTrustList(doc2); err != nil {
		t.Fatalf("restoring the cached v2: %v", err)
	}
	if err := restarted.ApplyTrustList(doc3, f.Now); err != nil {
		t.Fatalf("v3 after restoring v2: %v", err)
	}
	wantReason(t, restarted.RestoreTrustList(doc2), ReasonRollback)
	under := signTrustList(t, f.trustList(t, newOps, 2, 4), newOps.Keys[0])
	fresh, _ := NewState(StateConfig{Self: sh})
	wantReason(t, fresh.RestoreTrustList(under), ReasonThreshold)
}

// A keyset is trusted only until its exp, held or not: a peer that stops
// hearing a province's keysets (its updates suppressed, or the province
// gone dark) must not go on trusting the keys of the last one it held —
// a compromise announced meanwhile would be frozen out for good. A held
// keyset past its exp verifies nothing, as AcceptKeyset would refuse it.
func TestVerifyRefusesCodesOfAProvinceWhoseHeldKeysetExpired(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t) // its keyset expires 7 days after f.Now
	exp := time.Unix(f.GD.keyset(t, 1, f.Now).Expires, 0)
	before := exp.Add(-time.Hour)
	code, _ := f.GD.good(t, before)
	f.verify(t, code, before, ReasonOK)
	after := exp.Add(time.Minute)
	code, _ = f.GD.good(t, after) // signed by a key that is still active in the expired keyset
	f.verify(t, code, after, ReasonTrustStale)
	// A newer keyset, once it comes, is trusted again.
	if err := f.State.ApplyKeyset(gd, f.GD.signedKeyset(t, 2, after), after); err != nil {
		t.Fatal(err)
	}
	f.verify(t, code, after, ReasonOK)
}
