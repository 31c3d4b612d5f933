package trust

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
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
	// Nothing but white space may follow the payload's one value: not a
	// stray closer either, which a JSON decoder's More takes for the end.
	for _, tail := range []string{"}", "]", " {}", " x"} {
		signed := signedPayload(t, f.GD.Active, TypHeartbeat, append(payloadOf(t, raw), tail...))
		wantReason(t, ParseSigned(signed, TypHeartbeat, gd, f.GD.Keys, &got), ReasonMalformed)
	}
	signed := signedPayload(t, f.GD.Active, TypHeartbeat, append(payloadOf(t, raw), " \n"...))
	if err := ParseSigned(signed, TypHeartbeat, gd, f.GD.Keys, &got); err != nil {
		t.Fatalf("payload followed by white space: %v", err)
	}
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

// oldGrant makes a grant as GrantContentKeys did before grants used the
// codec of sealed statements: one go-jose encrypter, no options, so no
// cty header.
func oldGrant(t *testing.T, from *testProvince, to *testProvince, cks []ContentKey, now time.Time) string {
	t.Helper()
	kid, err := Thumbprint(&to.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: &to.Enc.PublicKey, KeyID: kid}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := ContentKeyGrant{Issuer: from.ID, To: to.ID, IssuedAt: now.Unix()}
	for _, ck := range cks {
		obj, err := enc.Encrypt(ck.Key)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		g.Keys = append(g.Keys, GrantedKey{KeyID: ck.ID, NotBefore: ck.NotBefore.Unix(), Expires: ck.Expires.Unix(), Key: sealed})
	}
	raw, err := from.Active.Sign(TypContentKey, g)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// grantKeyHeader is the protected header of the i-th sealed key of raw,
// by member name.
func grantKeyHeader(t *testing.T, raw string, i int) map[string]json.RawMessage {
	t.Helper()
	var g ContentKeyGrant
	if err := json.Unmarshal(payloadOf(t, raw), &g); err != nil {
		t.Fatal(err)
	}
	h64, _, _ := strings.Cut(g.Keys[i].Key, ".")
	b, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// Grants made before they shared the sealed-statement codec still open,
// and grants made now carry the same header members, no cty among them:
// the wire format did not change.
func TestGrantMadeTheOldWayOpensAndTheWireFormatIsUnchanged(t *testing.T) {
	f := newTestFederation(t, testNow)
	next := f.GD.CK
	next.ID += "-next"
	old := oldGrant(t, f.GD, f.SH, []ContentKey{f.GD.CK, next}, f.Now)
	cks, err := OpenContentKeyGrant(old, gd, f.GD.Keys, sh, f.SH.Enc)
	if err != nil || len(cks) != 2 || cks[1].ID != next.ID || !bytes.Equal(cks[0].Key, f.GD.CK.Key) {
		t.Fatalf("old grant opened to %v, %v", cks, err)
	}
	now, err := GrantContentKeys(f.GD.Active, gd, sh, &f.SH.Enc.PublicKey, []ContentKey{f.GD.CK, next}, f.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		oh, nh := grantKeyHeader(t, old, i), grantKeyHeader(t, now, i)
		if len(oh) != len(nh) || len(nh) != 4 {
			t.Fatalf("header members: old %v, now %v", oh, nh)
		}
		for _, m := range []string{"alg", "enc", "kid"} {
			if string(oh[m]) != string(nh[m]) {
				t.Fatalf("header %s: old %s, now %s", m, oh[m], nh[m])
			}
		}
		if _, ok := nh["epk"]; !ok {
			t.Fatalf("no epk in %v", nh)
		}
	}
}

// The grant's keys get the sealed codec's checks before any parsing: a
// sealed key that is too long, or that says it holds something else (a
// cty), is refused with the reason those checks give everywhere.
func TestOpenContentKeyGrantChecksEachSealedKeyFirst(t *testing.T) {
	f := newTestFederation(t, testNow)
	for _, tc := range []struct {
		key  func() (string, error)
		want Reason
	}{
		{func() (string, error) { return sealTo(f.GD.CK.Key, sealedCty, &f.SH.Enc.PublicKey) }, ReasonBadHeader},
		{func() (string, error) { return sealTo(f.GD.CK.Key, contactCty, &f.SH.Enc.PublicKey) }, ReasonBadHeader},
		{func() (string, error) {
			k, err := sealTo(f.GD.CK.Key, grantKeyCty, &f.SH.Enc.PublicKey)
			return k + strings.Repeat("A", maxGrantKeyLen), err
		}, ReasonOversized},
		{func() (string, error) { return "a.b.c.d", nil }, ReasonMalformed},
		{func() (string, error) { return sealTo(f.GD.CK.Key, grantKeyCty, &f.BJ.Enc.PublicKey) }, ReasonBadContent},
	} {
		key, err := tc.key()
		if err != nil {
			t.Fatal(err)
		}
		g := ContentKeyGrant{Issuer: gd, To: sh, IssuedAt: f.Now.Unix(),
			Keys: []GrantedKey{{KeyID: f.GD.CK.ID, NotBefore: f.GD.CK.NotBefore.Unix(), Expires: f.GD.CK.Expires.Unix(), Key: key}}}
		raw, err := f.GD.Active.Sign(TypContentKey, g)
		if err != nil {
			t.Fatal(err)
		}
		cks, err := OpenContentKeyGrant(raw, gd, f.GD.Keys, sh, f.SH.Enc)
		if cks != nil {
			t.Fatalf("refused grant gave %v", cks)
		}
		wantReason(t, err, tc.want)
	}
	// A real sealed key is well within the bound.
	k, err := sealTo(f.GD.CK.Key, grantKeyCty, &f.SH.Enc.PublicKey)
	if err != nil || len(k) > maxGrantKeyLen/2 {
		t.Fatalf("a sealed key of %d bytes, %v", len(k), err)
	}
}
