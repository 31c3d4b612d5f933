package trust

import (
	"bytes"
	"testing"
	"time"
)

// grant has from's active key grant ck to province to's encryption key.
func grant(t *testing.T, from *testProvince, to *testProvince, ck ContentKey, now time.Time) string {
	t.Helper()
	raw, err := GrantContentKey(from.Active, from.ID, to.ID, &to.Enc.PublicKey, ck, now)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestOpenContentKeyGrantGivesRecipientTheKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	raw := grant(t, f.GD, f.SH, f.GD.CK, f.Now)
	cks, err := OpenContentKeyGrant(raw, gd, f.GD.Keys, sh, f.SH.Enc)
	if err == nil && len(cks) != 1 {
		t.Fatalf("grant of one key opened to %d keys", len(cks))
	}
	var ck ContentKey
	if len(cks) > 0 {
		ck = cks[0]
	}
	if err != nil {
		t.Fatal(err)
	}
	if ck.ID != f.GD.CK.ID || !bytes.Equal(ck.Key, f.GD.CK.Key) ||
		!ck.NotBefore.Equal(f.GD.CK.NotBefore) || !ck.Expires.Equal(f.GD.CK.Expires) {
		t.Fatalf("granted %+v, want %+v", ck, f.GD.CK)
	}
	// With the key it received, Shanghai reads Guangdong's codes.
	f.Snap.ContentKeys[gd] = map[string]ContentKey{ck.ID: ck}
	verifyWant(t, f, mustGood(t, f), ReasonOK)
}

// Every node sees every grant; only the addressee can use it.
func TestOpenContentKeyGrantRefusesOtherRecipients(t *testing.T) {
	f := newTestFederation(t, testNow)
	raw := grant(t, f.GD, f.SH, f.GD.CK, f.Now)
	_, err := OpenContentKeyGrant(raw, gd, f.GD.Keys, bj, f.BJ.Enc)
	wantReason(t, err, ReasonNotRecipient)
	// Claiming to be the addressee does not help without its key.
	_, err = OpenContentKeyGrant(raw, gd, f.GD.Keys, sh, f.BJ.Enc)
	wantReason(t, err, ReasonBadContent)
}

// A province may grant only its own content keys: Guangdong handing out a
// key named for Shanghai could make Shanghai's codes read under a key
// Guangdong chose.
func TestOpenContentKeyGrantRefusesKeyOfAnotherProvince(t *testing.T) {
	f := newTestFederation(t, testNow)
	for _, id := range []string{f.SH.CK.ID, "440000", "4400001/2025-03-01", "/2025-03-01", ""} {
		ck := f.GD.CK
		ck.ID = id
		_, err := OpenContentKeyGrant(grant(t, f.GD, f.SH, ck, f.Now), gd, f.GD.Keys, sh, f.SH.Enc)
		wantReason(t, err, ReasonWrongSigner)
	}
}

func TestOpenContentKeyGrantChecksSignerAndIssuer(t *testing.T) {
	f := newTestFederation(t, testNow)
	// Signed by Shanghai, presented as Guangdong's: Shanghai's key is
	// not in Guangdong's keyset.
	raw, err := GrantContentKey(f.SH.Active, gd, bj, &f.BJ.Enc.PublicKey, f.GD.CK, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenContentKeyGrant(raw, gd, f.GD.Keys, bj, f.BJ.Enc)
	wantReason(t, err, ReasonUnknownKey)
	// Signed by Guangdong's key, but naming Shanghai as issuer.
	raw, err = GrantContentKey(f.GD.Active, sh, bj, &f.BJ.Enc.PublicKey, f.GD.CK, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenContentKeyGrant(raw, gd, f.GD.Keys, bj, f.BJ.Enc)
	wantReason(t, err, ReasonWrongSigner)
	// Signed by a compromised key of the right province.
	raw, err = GrantContentKey(f.GD.Compromised, gd, bj, &f.BJ.Enc.PublicKey, f.GD.CK, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenContentKeyGrant(raw, gd, f.GD.Keys, bj, f.BJ.Enc)
	wantReason(t, err, ReasonKeyCompromised)
	// A grant is not a code and a code is not a grant.
	_, err = OpenContentKeyGrant(mustGood(t, f)[len(CodePrefix):], gd, f.GD.Keys, bj, f.BJ.Enc)
	wantReason(t, err, ReasonWrongType)
}

func TestOpenContentKeyGrantRefusesKeyOfWrongSize(t *testing.T) {
	f := newTestFederation(t, testNow)
	ck := f.GD.CK
	ck.Key = ck.Key[:16] // AES-128: not a content key
	_, err := OpenContentKeyGrant(grant(t, f.GD, f.SH, ck, f.Now), gd, f.GD.Keys, sh, f.SH.Enc)
	wantReason(t, err, ReasonBadContent)
}

func TestParseSignedReadsHeartbeatAndRefusesUnknownFields(t *testing.T) {
	f := newTestFederation(t, testNow)
	hb := Heartbeat{Issuer: gd, IssuedAt: f.Now.Unix(), KeysetVersion: 4, ContentKeyID: f.GD.CK.ID, RevocationSeq: 99, TrustListVersion: 2}
	raw, err := f.GD.Active.Sign(TypHeartbeat, hb)
	if err != nil {
		t.Fatal(err)
	}
	var got Heartbeat
	if err := ParseSigned(raw, TypHeartbeat, gd, f.GD.Keys, &got); err != nil || got != hb {
		t.Fatalf("heartbeat %+v, %v", got, err)
	}
	var other struct{ Issuer string }
	wantReason(t, ParseSigned(raw, TypHeartbeat, gd, f.GD.Keys, &other), ReasonMalformed)
	wantReason(t, ParseSigned(raw, TypRevocation, gd, f.GD.Keys, &got), ReasonWrongType)
	wantReason(t, ParseSigned(raw, TypHeartbeat, sh, f.SH.Keys, &got), ReasonUnknownKey)
}

func TestGrantOfSeveralKeysOpensAllAndRefusesAForeignOne(t *testing.T) {
	f := newTestFederation(t, testNow)
	next := f.GD.CK
	next.ID = f.GD.CK.ID + "-next"
	raw, err := GrantContentKeys(f.GD.Active, gd, sh, &f.SH.Enc.PublicKey, []ContentKey{f.GD.CK, next}, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	cks, err := OpenContentKeyGrant(raw, gd, f.GD.Keys, sh, f.SH.Enc)
	if err != nil || len(cks) != 2 || cks[1].ID != next.ID {
		t.Fatalf("opened %v, %v", cks, err)
	}
	foreign := f.GD.CK
	foreign.ID = "310000/1"
	raw, err = GrantContentKeys(f.GD.Active, gd, sh, &f.SH.Enc.PublicKey, []ContentKey{f.GD.CK, foreign}, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenContentKeyGrant(raw, gd, f.GD.Keys, sh, f.SH.Enc); ReasonOf(err) != ReasonWrongSigner {
		t.Fatalf("grant smuggling another province's key: %v", err)
	}
}
