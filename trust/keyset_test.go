package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseKeysetReadsKeysStatesAndEncryptionKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	raw := f.GD.signedKeyset(t, 3, f.Now)
	v, err := ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if v.Issuer != gd || v.Version != 3 || v.Raw != raw || len(v.Signing) != 4 {
		t.Fatalf("keyset %s v%d, %d keys", v.Issuer, v.Version, len(v.Signing))
	}
	for kid, want := range f.GD.Keys {
		got := v.Signing[kid]
		if got == nil {
			t.Fatalf("key %s missing", kid)
		}
		if got.ID != kid || got.State != want.State || !got.NotBefore.Equal(want.NotBefore) ||
			!got.RetiredAt.Equal(want.RetiredAt) || !got.Expires.Equal(want.Expires) || !got.Public.Equal(want.Public) {
			t.Errorf("key %s:\n got %+v\nwant %+v", kid, got, want)
		}
	}
	encKID, _ := Thumbprint(&f.GD.Enc.PublicKey)
	if !v.EncKey.Equal(&f.GD.Enc.PublicKey) || v.EncKID != encKID {
		t.Fatalf("enc key %s, want %s", v.EncKID, encKID)
	}
	// A snapshot built from the parsed keyset verifies the province's codes.
	f.Snap.Keys[gd] = v.Signing
	verifyWant(t, f, mustGood(t, f), ReasonOK)
}

func TestParseKeysetRejectsKeysetNotSignedByTheProvinceRoot(t *testing.T) {
	f := newTestFederation(t, testNow)
	raw, err := SignKeyset(mustKey(t), f.GD.keyset(t, 1, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonWrongSigner)
	// A signing key, even an active one, is not the root.
	raw, err = f.GD.Active.Sign(TypKeyset, f.GD.keyset(t, 1, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonWrongSigner)
}

// A statement from province A about province B's keys is rejected, both
// when A's root signs a keyset naming B and when B's genuine keyset is
// offered as A's.
func TestParseKeysetRejectsKeysetOfAnotherProvince(t *testing.T) {
	f := newTestFederation(t, testNow)
	aboutGD, err := SignKeyset(f.SH.Root, f.GD.keyset(t, 9, f.Now)) // Shanghai's root, Guangdong's keys
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseKeyset(aboutGD, gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonWrongSigner)
	_, err = ParseKeyset(aboutGD, sh, &f.SH.Root.PublicKey) // right root for the signature, wrong subject
	wantReason(t, err, ReasonWrongSigner)

	shKeyset := f.SH.signedKeyset(t, 1, f.Now)
	_, err = ParseKeyset(shKeyset, gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonWrongSigner)
	_, err = ParseKeyset(shKeyset, gd, &f.SH.Root.PublicKey)
	wantReason(t, err, ReasonWrongSigner)
}

func TestParseKeysetRejectsOtherStatementTypes(t *testing.T) {
	f := newTestFederation(t, testNow)
	root := mustSigner(t, f.GD.Root)
	for _, typ := range []string{TypCode, TypRevocation, TypContentKey, TypHeartbeat, TypSnapshot} {
		raw, err := root.Sign(typ, f.GD.keyset(t, 1, f.Now))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
		wantReason(t, err, ReasonWrongType)
	}
	code := mustGood(t, f)
	_, err := ParseKeyset(strings.TrimPrefix(code, CodePrefix), gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonWrongType)
}

func TestParseKeysetRejectsBadSignature(t *testing.T) {
	f := newTestFederation(t, testNow)
	h, p, s := splitJWS(t, f.GD.signedKeyset(t, 1, f.Now))
	sig := mustDecode(t, s)
	sig[10] ^= 0x80
	_, err := ParseKeyset(h+"."+p+"."+b64(sig), gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonBadSignature)
	// The root's kid in the header does not make another key's signature good.
	payload, _ := json.Marshal(f.GD.keyset(t, 1, f.Now))
	rootKID, _ := Thumbprint(&f.GD.Root.PublicKey)
	forged := forgeJWS(t, mustKey(t), `{"alg":"ES256","kid":"`+rootKID+`","typ":"`+TypKeyset+`"}`, string(payload))
	_, err = ParseKeyset(forged, gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonBadSignature)
}

func TestParseKeysetRejectsMalformedContents(t *testing.T) {
	f := newTestFederation(t, testNow)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384Point, _ := p384.PublicKey.Bytes() // 0x04 || x || y
	p384JWK, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-384",
		"x": b64(p384Point[1:49]), "y": b64(p384Point[49:])})
	priv := mustKey(t)
	point, _ := priv.PublicKey.Bytes()
	d, _ := priv.Bytes()
	privJWK, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256",
		"x": b64(point[1:33]), "y": b64(point[33:]), "d": b64(d)})
	octJWK := json.RawMessage(`{"kty":"oct","k":"` + b64(make([]byte, 32)) + `"}`)
	wrongKID := json.RawMessage(strings.Replace(string(jwkJSON(t, f.GD.Active.Public())), f.GD.Active.KeyID(), f.GD.Next.KeyID(), 1))
	for name, c := range map[string]struct {
		edit func(ks *Keyset)
		want Reason
	}{
		"unknown key state":       {func(ks *Keyset) { ks.Keys[0].State = "standby" }, ReasonMalformed},
		"retired without date":    {func(ks *Keyset) { ks.Keys[3].RetiredAt = 0 }, ReasonMalformed},
		"private key in keyset":   {func(ks *Keyset) { ks.Keys[0].JWK = privJWK }, ReasonMalformed},
		"symmetric key in keyset": {func(ks *Keyset) { ks.Keys[0].JWK = octJWK }, ReasonMalformed},
		"P-384 signing key":       {func(ks *Keyset) { ks.Keys[0].JWK = p384JWK }, ReasonBadAlgorithm},
		"kid not thumbprint":      {func(ks *Keyset) { ks.Keys[0].JWK = wrongKID }, ReasonMalformed},
		"jwk not json":            {func(ks *Keyset) { ks.Keys[0].JWK = json.RawMessage(`"key"`) }, ReasonMalformed},
		"enc key is private":      {func(ks *Keyset) { ks.Enc = privJWK }, ReasonMalformed},
		"enc key P-384":           {func(ks *Keyset) { ks.Enc = p384JWK }, ReasonBadAlgorithm},
		"key listed twice": {func(ks *Keyset) {
			dup := ks.Keys[0]
			dup.State = KeyCompromised
			ks.Keys = append([]KeysetEntry{dup}, ks.Keys...)
		}, ReasonMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			ks := f.GD.keyset(t, 1, f.Now)
			c.edit(&ks)
			raw, err := SignKeyset(f.GD.Root, ks)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
			wantReason(t, err, c.want)
		})
	}
}

func TestParseKeysetRejectsUnknownFieldsAndOversizedStatements(t *testing.T) {
	f := newTestFederation(t, testNow)
	payload, _ := json.Marshal(f.GD.keyset(t, 1, f.Now))
	withExtra := strings.Replace(string(payload), `{"iss"`, `{"jku":"https://evil.example","iss"`, 1)
	root := mustSigner(t, f.GD.Root)
	raw, err := root.SignBytes(TypKeyset, []byte(withExtra))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseKeyset(raw, gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonMalformed)

	_, err = ParseKeyset(strings.Repeat("A", MaxStatementLen+1), gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonOversized)
	_, err = ParseKeyset(strings.Repeat(".", MaxStatementLen), gd, &f.GD.Root.PublicKey)
	wantReason(t, err, ReasonMalformed)
}

func TestAcceptKeysetRefusesRollbackReplayAndExpiry(t *testing.T) {
	f := newTestFederation(t, testNow)
	parse := func(v uint64, at time.Time) *VerifiedKeyset {
		t.Helper()
		ks, err := ParseKeyset(f.GD.signedKeyset(t, v, at), gd, &f.GD.Root.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	v1, v2, v3 := parse(1, f.Now), parse(2, f.Now), parse(3, f.Now)
	if err := AcceptKeyset(nil, v1, f.Now); err != nil {
		t.Fatalf("first keyset: %v", err)
	}
	if err := AcceptKeyset(v1, v2, f.Now); err != nil {
		t.Fatalf("newer keyset: %v", err)
	}
	if err := AcceptKeyset(v1, v3, f.Now); err != nil {
		t.Fatalf("version gap: %v", err) // versions only need to grow
	}
	wantReason(t, AcceptKeyset(v2, v1, f.Now), ReasonRollback)
	wantReason(t, AcceptKeyset(v2, v2, f.Now), ReasonRollback)
	// Freeze: an old but genuine keyset replayed after its expiry.
	exp := time.Unix(v3.Expires, 0)
	if err := AcceptKeyset(v2, v3, exp); err != nil {
		t.Fatalf("at its expiry: %v", err)
	}
	wantReason(t, AcceptKeyset(v2, v3, exp.Add(time.Second)), ReasonExpired)
	wantReason(t, AcceptKeyset(nil, v3, exp.Add(time.Second)), ReasonExpired)
}

func TestKeysetJWKSPublishesAllButCompromisedKeys(t *testing.T) {
	f := newTestFederation(t, testNow)
	v, err := ParseKeyset(f.GD.signedKeyset(t, 1, f.Now), gd, &f.GD.Root.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	set := v.JWKS()
	got := map[string]bool{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS holds a private key %s", k.KeyID)
		}
		got[k.KeyID] = true
	}
	want := map[string]bool{f.GD.Active.KeyID(): true, f.GD.Next.KeyID(): true, f.GD.Retired.KeyID(): true}
	if len(got) != len(want) || !got[f.GD.Active.KeyID()] || !got[f.GD.Next.KeyID()] || !got[f.GD.Retired.KeyID()] {
		t.Fatalf("JWKS kids %v, want %v", got, want)
	}
}
