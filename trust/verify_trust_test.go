package trust

import (
	"encoding/json"
	"testing"
	"time"
)

// Verify tests past the format checks: trust freshness, issuer, key
// lifecycle, signature, validity window, revocation and content.

func TestVerifyRefusesStaleTrust(t *testing.T) {
	f := newTestFederation(t, testNow)
	code := mustGood(t, f)
	f.Snap.StaleAfter = f.Now.Add(-time.Second)
	verifyWant(t, f, code, ReasonTrustStale)
	f.Snap.StaleAfter = f.Now // not after: still fresh
	verifyWant(t, f, code, ReasonOK)
	f.Snap.StaleAfter = time.Time{} // no limit
	verifyWant(t, f, code, ReasonOK)
	if r := Verify(code, nil, NoRevocations{}, f.Now); r.Reason != ReasonTrustStale {
		t.Fatalf("nil snapshot: %q", r.Reason)
	}
}

func TestVerifyRejectsUnknownAndRemovedIssuers(t *testing.T) {
	f := newTestFederation(t, testNow)
	stranger := newTestProvince(t, "650000", f.Now)
	code, _ := stranger.good(t, f.Now)
	verifyWant(t, f, code, ReasonUnknownIssuer)

	removedCode, _ := f.Removed.good(t, f.Now)
	verifyWant(t, f, removedCode, ReasonUnknownIssuer)

	// Removing a member turns its valid codes into unknown ones at once.
	shCode, _ := f.SH.good(t, f.Now)
	verifyWant(t, f, shCode, ReasonOK)
	m := f.Snap.Members[sh]
	m.Status = MemberRemoved
	f.Snap.Members[sh] = m
	verifyWant(t, f, shCode, ReasonUnknownIssuer)
}

func TestVerifyRejectsSuspendedIssuer(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, _ := f.BJ.good(t, f.Now)
	verifyWant(t, f, code, ReasonIssuerSuspended)
	m := f.Snap.Members[bj]
	m.Status = "on-probation" // any status that is not active refuses
	f.Snap.Members[bj] = m
	verifyWant(t, f, code, ReasonIssuerSuspended)
}

func TestVerifyRejectsUnknownKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	rogue := mustSigner(t, mustKey(t))
	code := signCode(t, rogue, f.GD.claims(t, f.Now, time.Hour))
	verifyWant(t, f, code, ReasonUnknownKey)
	// A key dropped from the keyset verifies nothing, whatever it signed.
	good := mustGood(t, f)
	delete(f.Snap.Keys[gd], f.GD.Active.KeyID())
	verifyWant(t, f, good, ReasonUnknownKey)
	delete(f.Snap.Keys, gd)
	verifyWant(t, f, good, ReasonUnknownKey)
}

// A key is looked up among the keys of the province named by iss only: a
// member cannot issue codes in another member's name with its own key.
func TestVerifyRejectsKeyOfOtherProvince(t *testing.T) {
	f := newTestFederation(t, testNow)
	forged := f.SH.claims(t, f.Now, time.Hour) // iss 310000, Shanghai's content key
	code := signCode(t, f.GD.Active, forged)   // signed by Guangdong, kid of Guangdong
	r := verifyWant(t, f, code, ReasonUnknownKey)
	if r.Issuer != sh || r.KeyID != f.GD.Active.KeyID() {
		t.Fatalf("result names issuer %q key %q", r.Issuer, r.KeyID)
	}
	// Even if Guangdong's key id is placed in Shanghai's header by hand.
	payload, _ := json.Marshal(forged)
	verifyWant(t, f, CodePrefix+forgeJWS(t, f.GD.Active.key, codeHeader(f.SH.Active.KeyID()), string(payload)), ReasonBadSignature)
}

func TestVerifyRejectsNextKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	// Published a day ahead: known to every peer, but not yet signing.
	code := signCode(t, f.GD.Next, f.GD.claims(t, f.Now, time.Hour))
	verifyWant(t, f, code, ReasonKeyNotActive)
	code = signCode(t, f.GD.Next, f.GD.claims(t, f.Now.Add(25*time.Hour), time.Hour))
	verifyWant(t, f, code, ReasonKeyNotActive)
}

func TestVerifyRejectsActiveKeyUsedBeforeItStarted(t *testing.T) {
	f := newTestFederation(t, testNow)
	nbf := f.GD.key(f.GD.Active).NotBefore
	early := signCode(t, f.GD.Active, f.GD.claims(t, nbf.Add(-ClockSkew-time.Second), time.Hour))
	verifyWant(t, f, early, ReasonKeyNotActive)
	// Within the skew allowance of its start it is accepted.
	edge := signCode(t, f.GD.Active, f.GD.claims(t, nbf.Add(-ClockSkew), 30*time.Hour))
	verifyWant(t, f, edge, ReasonOK)
}

func TestVerifyAcceptsRetiredKeyCodesSignedBeforeRetirementUntilExpiry(t *testing.T) {
	f := newTestFederation(t, testNow)
	f.Snap.StaleAfter = time.Time{} // this test travels days ahead
	k := f.GD.key(f.GD.Retired)
	// The last paper code the key signed, at the moment it retired, lives
	// exactly as long as the key: that is how a retired key's expiry is set.
	code, cl := f.GD.issue(t, f.GD.Retired, k.RetiredAt, MaxCodeLifetime)
	if got := time.Unix(cl.Expires, 0); !got.Equal(k.Expires) {
		t.Fatalf("code expires %v, key expires %v", got, k.Expires)
	}
	verifyWant(t, f, code, ReasonOK)
	earlier, _ := f.GD.issue(t, f.GD.Retired, k.RetiredAt.Add(-3*24*time.Hour), DefaultCodeLifetime)
	if r := Verify(earlier, f.Snap, NoRevocations{}, k.RetiredAt.Add(-2*24*time.Hour-time.Hour)); r.Reason != ReasonOK {
		t.Fatalf("code signed before retirement, checked before its expiry: %q", r.Reason)
	}
	verifyWant(t, f, earlier, ReasonExpired)
	// Still valid at the last second of its life plus skew, expired after.
	f.Now = k.Expires.Add(ClockSkew)
	verifyWant(t, f, code, ReasonOK)
	f.Now = k.Expires.Add(ClockSkew + time.Second)
	verifyWant(t, f, code, ReasonExpired)
}

func TestVerifyRejectsRetiredKeyUsedAfterRetirement(t *testing.T) {
	f := newTestFederation(t, testNow)
	k := f.GD.key(f.GD.Retired)
	late := signCode(t, f.GD.Retired, f.GD.claims(t, k.RetiredAt.Add(ClockSkew+time.Second), time.Hour))
	verifyWant(t, f, late, ReasonKeyNotActive)
	// Issued at now, a day after retirement: the usual shape of a stolen
	// retired key.
	stolen := signCode(t, f.GD.Retired, f.GD.claims(t, f.Now, time.Hour))
	verifyWant(t, f, stolen, ReasonKeyNotActive)
	// Up to skew after retirement is still the key's own clock drift.
	edge := signCode(t, f.GD.Retired, f.GD.claims(t, k.RetiredAt.Add(ClockSkew), time.Hour*24))
	verifyWant(t, f, edge, ReasonOK)
	// And before the key began, too.
	early := signCode(t, f.GD.Retired, f.GD.claims(t, k.NotBefore.Add(-ClockSkew-time.Second), time.Hour))
	verifyWant(t, f, early, ReasonKeyNotActive)
}

func TestVerifyRejectsEveryCodeOfCompromisedKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	// Signed long before the compromise and otherwise perfect.
	code := signCode(t, f.GD.Compromised, f.GD.claims(t, f.Now.Add(-time.Hour), 2*time.Hour))
	verifyWant(t, f, code, ReasonKeyCompromised)
	// Marking the active key compromised kills its codes at once.
	good := mustGood(t, f)
	k := *f.GD.key(f.GD.Active)
	k.State = KeyCompromised
	f.Snap.Keys[gd][k.ID] = &k
	verifyWant(t, f, good, ReasonKeyCompromised)
}

func TestVerifyRejectsKeyInUnknownState(t *testing.T) {
	f := newTestFederation(t, testNow)
	good := mustGood(t, f)
	k := *f.GD.key(f.GD.Active)
	k.State = "revoked-ish"
	f.Snap.Keys[gd][k.ID] = &k
	verifyWant(t, f, good, ReasonUnknownKey)
}

func TestVerifyRejectsBadSignature(t *testing.T) {
	f := newTestFederation(t, testNow)
	code := mustGood(t, f)
	h, p, s := splitJWS(t, code)
	sig := mustDecode(t, s)
	for _, i := range []int{0, 31, 32, 63} {
		bad := append([]byte(nil), sig...)
		bad[i] ^= 0x01
		verifyWant(t, f, CodePrefix+h+"."+p+"."+b64(bad), ReasonBadSignature)
	}
	verifyWant(t, f, CodePrefix+h+"."+p+"."+b64(make([]byte, 64)), ReasonBadSignature) // r = s = 0
	// A payload changed after signing: one more day of validity.
	var cl Claims
	if err := json.Unmarshal(mustDecode(t, p), &cl); err != nil {
		t.Fatal(err)
	}
	cl.Expires += 86400
	longer, _ := json.Marshal(cl)
	verifyWant(t, f, CodePrefix+h+"."+b64(longer)+"."+s, ReasonBadSignature)
	// A signature of the right province made with the wrong key.
	verifyWant(t, f, CodePrefix+forgeJWS(t, f.SH.Active.key, codeHeader(f.GD.Active.KeyID()), string(mustDecode(t, p))), ReasonBadSignature)
}

// ECDSA signatures are malleable: (r, n-s) verifies wherever (r, s) does,
// and Go's ecdsa accepts high s. So one code has two encodings that both
// verify. This is why revocation is keyed by jti, never by a hash of the
// code text: the test shows both encodings carry the same jti and are
// both caught by revoking it.
func TestVerifyMalleatedSignatureKeepsJTIAndIsRevokedByJTI(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, cl := f.GD.good(t, f.Now)
	twin := malleate(t, code)
	if twin == code {
		t.Fatal("malleate returned the same encoding")
	}
	a := verifyWant(t, f, code, ReasonOK)
	b := verifyWant(t, f, twin, ReasonOK) // documented: Verify accepts high and low s alike
	if a.JTI != cl.JTI || b.JTI != cl.JTI || a != b {
		t.Fatalf("encodings verify to different results:\n%+v\n%+v", a, b)
	}
	rev := revokedList{{gd, cl.JTI}: true}
	for _, c := range []string{code, twin} {
		if r := Verify(c, f.Snap, rev, f.Now); r.Reason != ReasonRevoked {
			t.Fatalf("revoked by jti: %q", r.Reason)
		}
	}
}

func TestVerifyRejectsBadLifetime(t *testing.T) {
	f := newTestFederation(t, testNow)
	keyExp := f.GD.key(f.GD.Active).Expires
	for name, cl := range map[string]Claims{
		"outlives signing key": f.GD.claims(t, keyExp.Add(-time.Hour), 2*time.Hour),
		"longer than 7 days":   f.GD.claims(t, f.Now, MaxCodeLifetime+time.Second),
		"exp equals iat":       f.GD.claims(t, f.Now, 0),
		"exp before iat":       f.GD.claims(t, f.Now, -time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			verifyWant(t, f, signCode(t, f.GD.Active, cl), ReasonBadLifetime)
		})
	}
	// The limits themselves are allowed.
	verifyWant(t, f, signCode(t, f.GD.Active, f.GD.claims(t, f.Now, MaxCodeLifetime)), ReasonOK)
	last := signCode(t, f.GD.Active, f.GD.claims(t, keyExp.Add(-time.Hour), time.Hour))
	f.Snap.StaleAfter = time.Time{}
	if r := Verify(last, f.Snap, NoRevocations{}, keyExp.Add(-time.Hour)); r.Reason != ReasonOK {
		t.Fatalf("code ending as its key expires: %q", r.Reason)
	}
}

func TestVerifyRejectsExpiredCodeAfterClockSkew(t *testing.T) {
	f := newTestFederation(t, testNow)
	f.Snap.StaleAfter = time.Time{}
	code, cl := f.GD.good(t, f.Now)
	exp := time.Unix(cl.Expires, 0)
	for _, c := range []struct {
		at   time.Time
		want Reason
	}{
		{exp.Add(-time.Second), ReasonOK},
		{exp, ReasonOK},
		{exp.Add(ClockSkew), ReasonOK},
		{exp.Add(ClockSkew + time.Second), ReasonExpired},
		{exp.Add(30 * 24 * time.Hour), ReasonExpired},
	} {
		if r := Verify(code, f.Snap, NoRevocations{}, c.at); r.Reason != c.want {
			t.Errorf("at exp%+v: %q, want %q", c.at.Sub(exp), r.Reason, c.want)
		}
	}
}

func TestVerifyRejectsCodeFromTheFutureBeyondClockSkew(t *testing.T) {
	f := newTestFederation(t, testNow)
	for _, c := range []struct {
		ahead time.Duration
		want  Reason
	}{
		{ClockSkew, ReasonOK},
		{ClockSkew + time.Second, ReasonNotYetValid},
		{time.Hour, ReasonNotYetValid},
	} {
		code, _ := f.GD.issue(t, f.GD.Active, f.Now.Add(c.ahead), time.Hour)
		verifyWant(t, f, code, c.want)
	}
}

func TestVerifyRejectsRevokedCode(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, cl := f.GD.good(t, f.Now)
	other, _ := f.GD.good(t, f.Now)
	rev := revokedList{{gd, cl.JTI}: true}
	if r := Verify(code, f.Snap, rev, f.Now); r.Reason != ReasonRevoked || r.JTI != cl.JTI {
		t.Fatalf("revoked code: %+v", r)
	}
	if r := Verify(other, f.Snap, rev, f.Now); r.Reason != ReasonOK {
		t.Fatalf("other code of the same issuer: %q", r.Reason)
	}
	// A revocation is scoped to its issuer: Shanghai cannot revoke
	// Guangdong's codes by naming their jti.
	if r := Verify(code, f.Snap, revokedList{{sh, cl.JTI}: true}, f.Now); r.Reason != ReasonOK {
		t.Fatalf("revocation under another issuer: %q", r.Reason)
	}
	if r := Verify(code, f.Snap, nil, f.Now); r.Reason != ReasonOK {
		t.Fatalf("nil revocation set: %q", r.Reason)
	}
}
