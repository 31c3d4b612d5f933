package trust

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// RFC 7638 section 3.2: the thumbprint of an EC key hashes exactly
// {"crv","kty","x","y"} in that order, no whitespace.
func TestThumbprintFollowsRFC7638(t *testing.T) {
	k := mustKey(t)
	point, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	canon := `{"crv":"P-256","kty":"EC","x":"` + b64(point[1:33]) + `","y":"` + b64(point[33:]) + `"}`
	sum := sha256.Sum256([]byte(canon))
	got, err := Thumbprint(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if got != b64(sum[:]) {
		t.Fatalf("Thumbprint = %s, want %s", got, b64(sum[:]))
	}
	s := mustSigner(t, k)
	if s.KeyID() != got || !s.Public().Equal(&k.PublicKey) {
		t.Fatal("signer key id is not the thumbprint")
	}
}

func TestPublicJWKRoundTripsAndNamesItsUse(t *testing.T) {
	k := mustKey(t)
	for use, alg := range map[string]string{"sig": "ES256", "enc": "ECDH-ES+A256KW"} {
		jwk, err := PublicJWK(&k.PublicKey, use)
		if err != nil {
			t.Fatal(err)
		}
		if jwk.Algorithm != alg || jwk.Use != use {
			t.Fatalf("%s: alg %s", use, jwk.Algorithm)
		}
		raw, _ := json.Marshal(jwk)
		if strings.Contains(string(raw), `"d"`) {
			t.Fatal("public JWK carries d")
		}
		pub, kid, err := ParsePublicJWK(raw)
		if err != nil || !pub.Equal(&k.PublicKey) || kid != jwk.KeyID {
			t.Fatalf("round trip: %v", err)
		}
	}
	// A JWK without kid is read and given its thumbprint.
	point, _ := k.PublicKey.Bytes()
	bare := `{"kty":"EC","crv":"P-256","x":"` + b64(point[1:33]) + `","y":"` + b64(point[33:]) + `"}`
	_, kid, err := ParsePublicJWK(json.RawMessage(bare))
	if want, _ := Thumbprint(&k.PublicKey); err != nil || kid != want {
		t.Fatalf("bare JWK: kid %q, %v", kid, err)
	}
	// Off the curve: refused.
	off := `{"kty":"EC","crv":"P-256","x":"` + b64(point[1:33]) + `","y":"` + b64(make([]byte, 32)) + `"}`
	_, _, err = ParsePublicJWK(json.RawMessage(off))
	wantReason(t, err, ReasonMalformed)
}

func TestKeyAndStatusValidity(t *testing.T) {
	for _, s := range []KeyState{KeyNext, KeyActive, KeyRetired, KeyCompromised} {
		if !s.Valid() {
			t.Errorf("%q invalid", s)
		}
	}
	for _, s := range []KeyState{"", "Active", "dropped"} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
	}
	for _, s := range []Status{Green, Yellow, Red} {
		if !s.Valid() {
			t.Errorf("%q invalid", s)
		}
	}
	for _, s := range []Status{"", "Green", "black"} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
	}
}

func TestStatementSignerRefusesUnknownTypes(t *testing.T) {
	s := mustSigner(t, mustKey(t))
	for _, typ := range []string{"", "JWT", TypTrustList} { // trust lists are signed by operators only
		if _, err := s.SignBytes(typ, []byte(`{}`)); err == nil {
			t.Errorf("signed typ %q", typ)
		}
	}
	if _, err := s.Sign(TypHeartbeat, func() {}); err == nil {
		t.Fatal("signed an unmarshallable payload")
	}
}

func TestSnapshotCloneIsIndependent(t *testing.T) {
	f := newTestFederation(t, testNow)
	c := f.Snap.Clone()
	delete(c.Members, gd)
	delete(c.Keys[sh], f.SH.Active.KeyID())
	c.ContentKeys[sh]["x"] = ContentKey{}
	c.StaleAfter = time.Time{}
	if _, ok := f.Snap.Members[gd]; !ok {
		t.Fatal("clone shares members")
	}
	if _, ok := f.Snap.Keys[sh][f.SH.Active.KeyID()]; !ok {
		t.Fatal("clone shares keys")
	}
	if _, ok := f.Snap.ContentKeys[sh]["x"]; ok {
		t.Fatal("clone shares content keys")
	}
	if f.Snap.StaleAfter.IsZero() {
		t.Fatal("clone shares StaleAfter")
	}
	code, _ := f.SH.good(t, f.Now)
	verifyWant(t, f, code, ReasonOK)
	if r := Verify(code, c, nil, f.Now); r.Reason != ReasonUnknownKey {
		t.Fatalf("clone: %q", r.Reason)
	}
}
