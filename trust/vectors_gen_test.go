package trust

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The generator behind TestVectors -update=codes. Vectors are made from a fresh
// fixture federation (random keys) at testNow; only their public side is
// written down.

// writeVectors regenerates every vector, the fixture and the fuzz seeds.
func writeVectors(t *testing.T) {
	f := newTestFederation(t, testNow)
	now := f.Now
	codes, revoked := codeVectors(t, f)
	fx := vectorFixture{
		Comment: "TEST ONLY. Verifier-side fixture for the vectors beside it: public keys, and content keys " +
			"that exist only to decrypt these test codes. Regenerate with: go test ./trust -run TestVectors -update=codes",
		Now: now.Unix(), StaleAfter: f.Snap.StaleAfter.Unix(),
		Revoked: []vectorRevoked{{Issuer: gd, JTI: revoked}},
	}
	for _, p := range []*testProvince{f.BJ, f.GD, f.Removed, f.SH} {
		fx.Members = append(fx.Members, vectorMember{ID: p.ID, Status: f.Snap.Members[p.ID].Status,
			Root: jwkJSON(t, &p.Root.PublicKey), Keys: p.keyset(t, 1, now).Keys,
			ContentKeys: []vectorContentKey{{ID: p.CK.ID, Key: b64(p.CK.Key), NotBefore: p.CK.NotBefore.Unix(), Expires: p.CK.Expires.Unix()}}})
	}
	b, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(vectorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vectorDir, fixtureFile), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	keysets := keysetVectors(t, f)
	revocations := revocationVectors(t, f)
	for kind, vs := range map[string]map[string]string{"code": codes, "keyset": keysets, "revocation": revocations} {
		writeVectorDir(t, filepath.Join(vectorDir, kind), vs)
	}
	writeFuzzSeeds(t, f, codes, keysets)
}

func writeVectorDir(t *testing.T, dir string, vs map[string]string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, o := range old {
		if err := os.Remove(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range vs {
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// codeVectors returns codes by vector name, and the jti the fixture revokes.
func codeVectors(t *testing.T, f *testFederation) (map[string]string, string) {
	now, gp := f.Now, f.GD
	day := 24 * time.Hour
	kid := gp.Active.KeyID()
	phone, _ := gp.good(t, now)
	h, p, s := splitJWS(t, phone)
	sig := mustDecode(t, s)
	sig[5] ^= 0x10
	cl := gp.claims(t, now, time.Hour)
	payload, _ := json.Marshal(cl)
	forged := func(header string) string { return CodePrefix + forgeJWS(t, gp.Active.key, header, string(payload)) }
	signed := func(s *StatementSigner, c Claims) string { return signCode(t, s, c) }
	revokedCode, revokedClaims := gp.good(t, now)
	tampered := gp.claims(t, now, time.Hour)
	ctParts := strings.Split(tampered.CT, ".")
	ctBody := mustDecode(t, ctParts[3])
	ctBody[0] ^= 1
	ctParts[3] = b64(ctBody)
	tampered.CT = strings.Join(ctParts, ".")
	unmasked := gp.claims(t, now, time.Hour)
	unmasked.CT = seal(t, gp.CK, Content{Status: Green, Name: "张三", Doc: "440106199001011234"})
	unpublished := gp.claims(t, now, time.Hour)
	unpublished.CT = seal(t, ContentKey{ID: ContentKeyID(gd, "2025-02-01"), Key: fixedBytes("unpublished", ContentKeyLen)}, greenContent)
	hs256 := func() string {
		point, _ := gp.Active.Public().Bytes()
		input := b64([]byte(`{"alg":"HS256","kid":"`+kid+`","typ":"`+TypCode+`"}`)) + "." + b64(payload)
		return CodePrefix + input + "." + b64(hmacSHA256(point, input))
	}
	// A keyset small enough to pass the code size limit, so typ decides.
	keysetAsCode, _ := SignKeyset(gp.Root, Keyset{Issuer: gd, Version: 1, IssuedAt: now.Unix(), Expires: now.Add(day).Unix()})
	retired := gp.key(gp.Retired)
	paper, _ := gp.issue(t, gp.Active, now, MaxCodeLifetime)
	retiredCode, _ := gp.issue(t, gp.Retired, retired.RetiredAt.Add(-time.Hour), 3*day)
	future, _ := gp.issue(t, gp.Active, now.Add(ClockSkew), time.Hour)
	shCode, _ := f.SH.good(t, now)
	extra := strings.Replace(string(payload), `{"iss"`, `{"sub":"440106199001011234","iss"`, 1)
	last := s[len(s)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

	return map[string]string{
		"good_phone_code":             phone,
		"good_paper_code":             paper,
		"good_malleated_signature":    malleate(t, phone),
		"good_retired_key_before_end": retiredCode,
		"good_clock_skew_future":      future,
		"good_other_province":         shCode,

		"fail_oversized_padded":                 phone + strings.Repeat("A", MaxCodeLen),
		"fail_malformed_no_prefix":              strings.TrimPrefix(phone, CodePrefix),
		"fail_malformed_many_dots":              CodePrefix + strings.Repeat(".", 2000),
		"fail_malformed_two_parts":              CodePrefix + h + "." + p,
		"fail_malformed_four_parts":             phone + ".AAAA",
		"fail_malformed_bad_base64":             CodePrefix + h + "." + p + "." + "!!" + s[2:],
		"fail_malformed_signature_trailing_bit": phone[:len(phone)-1] + string(alphabet[strings.IndexByte(alphabet, last)+1]),
		"fail_malformed_unknown_claim":          CodePrefix + forgeJWS(t, gp.Active.key, codeHeader(kid), extra),
		"fail_malformed_line_break":             phone + "\n",

		"fail_bad_algorithm_none":          CodePrefix + b64([]byte(`{"alg":"none","kid":"`+kid+`","typ":"`+TypCode+`"}`)) + "." + b64(payload) + ".",
		"fail_bad_algorithm_hs256_pubkey":  hs256(),
		"fail_wrong_type_keyset":           CodePrefix + keysetAsCode,
		"fail_bad_header_jwk":              forged(`{"alg":"ES256","jwk":` + string(jwkJSON(t, gp.Active.Public())) + `,"kid":"` + kid + `","typ":"` + TypCode + `"}`),
		"fail_bad_header_jku":              forged(`{"alg":"ES256","jku":"https://evil.example/jwks","kid":"` + kid + `","typ":"` + TypCode + `"}`),
		"fail_bad_header_x5u":              forged(`{"alg":"ES256","kid":"` + kid + `","typ":"` + TypCode + `","x5u":"https://evil.example/c"}`),
		"fail_bad_header_crit":             forged(`{"alg":"ES256","crit":["exp"],"kid":"` + kid + `","typ":"` + TypCode + `"}`),
		"fail_bad_header_upper_case_alg":   forged(`{"ALG":"ES256","kid":"` + kid + `","typ":"` + TypCode + `"}`),
		"fail_bad_header_duplicate_alg":    forged(`{"alg":"none","alg":"ES256","kid":"` + kid + `","typ":"` + TypCode + `"}`),
		"fail_bad_header_whitespace":       forged(`{"alg": "ES256", "kid": "` + kid + `", "typ": "` + TypCode + `"}`),
		"fail_unknown_issuer_not_member":   signed(mustSigner(t, mustKey(t)), newTestProvince(t, "650000", now).claims(t, now, time.Hour)),
		"fail_unknown_issuer_removed":      signed(f.Removed.Active, f.Removed.claims(t, now, time.Hour)),
		"fail_issuer_suspended_member":     signed(f.BJ.Active, f.BJ.claims(t, now, time.Hour)),
		"fail_unknown_key_rogue":           signed(mustSigner(t, mustKey(t)), gp.claims(t, now, time.Hour)),
		"fail_unknown_key_other_province":  signed(gp.Active, f.SH.claims(t, now, time.Hour)),
		"fail_key_not_active_next":         signed(gp.Next, gp.claims(t, now, time.Hour)),
		"fail_key_not_active_retired":      signed(gp.Retired, gp.claims(t, now, time.Hour)),
		"fail_key_compromised_old_code":    signed(gp.Compromised, gp.claims(t, now.Add(-time.Hour), 2*time.Hour)),
		"fail_bad_signature_flipped":       CodePrefix + h + "." + p + "." + b64(sig),
		"fail_bad_lifetime_beyond_key":     signed(gp.Active, gp.claims(t, gp.key(gp.Active).Expires.Add(-time.Hour), 2*time.Hour)),
		"fail_bad_lifetime_too_long":       signed(gp.Active, gp.claims(t, now, MaxCodeLifetime+time.Second)),
		"fail_bad_lifetime_exp_before_iat": signed(gp.Active, gp.claims(t, now, -time.Hour)),
		"fail_expired_yesterday":           signed(gp.Retired, gp.claims(t, now.Add(-2*day), time.Hour)),
		"fail_not_yet_valid_beyond_skew":   signed(gp.Active, gp.claims(t, now.Add(ClockSkew+time.Second), time.Hour)),
		"fail_revoked_by_jti":              revokedCode,
		"fail_no_content_key_unpublished":  signed(gp.Active, unpublished),
		"fail_bad_content_tampered":        signed(gp.Active, tampered),
		"fail_bad_content_unmasked":        signed(gp.Active, unmasked),
	}, revokedClaims.JTI
}

func keysetVectors(t *testing.T, f *testFederation) map[string]string {
	now := f.Now
	good := f.GD.signedKeyset(t, 1, now)
	h, p, s := splitJWS(t, good)
	sig := mustDecode(t, s)
	sig[0] ^= 1
	otherRoot, _ := SignKeyset(f.SH.Root, f.GD.keyset(t, 2, now))
	payload, _ := json.Marshal(f.GD.keyset(t, 3, now))
	extra, _ := mustSigner(t, f.GD.Root).SignBytes(TypKeyset, []byte(strings.Replace(string(payload), `{"iss"`, `{"jku":"https://evil.example","iss"`, 1)))
	asRevocation, _ := mustSigner(t, f.GD.Root).Sign(TypRevocation, f.GD.keyset(t, 4, now))
	return map[string]string{
		"good_keyset":                      good,
		"fail_wrong_signer_other_root":     otherRoot,
		"fail_wrong_signer_other_province": f.SH.signedKeyset(t, 1, now),
		"fail_wrong_type_revocation":       asRevocation,
		"fail_bad_signature_flipped":       h + "." + p + "." + b64(sig),
		"fail_malformed_unknown_field":     extra,
	}
}

func revocationVectors(t *testing.T, f *testFederation) map[string]string {
	now := f.Now
	r := Revocation{Issuer: gd, Seq: 1, IssuedAt: now.Unix(), Entries: []RevocationEntry{{JTI: mustJTI(t), Expires: now.Add(time.Hour).Unix()}}}
	sign := func(s *StatementSigner, v any) string {
		raw, err := s.Sign(TypRevocation, v)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	badJTI := r
	badJTI.Entries = []RevocationEntry{{JTI: "not-a-jti", Expires: now.Unix()}}
	good := sign(f.GD.Active, r)
	h, p, s := splitJWS(t, good)
	sig := mustDecode(t, s)
	sig[63] ^= 1
	return map[string]string{
		"good_active_key":              good,
		"good_retired_key":             sign(f.GD.Retired, r),
		"fail_unknown_key_sh_key":      sign(f.SH.Active, r),
		"fail_key_compromised_signer":  sign(f.GD.Compromised, r),
		"fail_key_not_active_next":     sign(f.GD.Next, r),
		"fail_malformed_bad_jti":       sign(f.GD.Active, badJTI),
		"fail_bad_signature_flipped":   h + "." + p + "." + b64(sig),
		"fail_wrong_signer_issuer_sh":  sign(f.GD.Active, Revocation{Issuer: sh, Seq: 1, IssuedAt: now.Unix()}),
		"fail_wrong_type_code_as_revo": strings.TrimPrefix(mustGoodOf(t, f.GD, now), CodePrefix),
	}
}

func mustGoodOf(t *testing.T, p *testProvince, now time.Time) string {
	t.Helper()
	code, _ := p.good(t, now)
	return code
}

// fuzzSeeds lists, per fuzz target, a few small seeds drawn from vectors.
func writeFuzzSeeds(t *testing.T, f *testFederation, codes, keysets map[string]string) {
	pick := func(m map[string]string, names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, m[n])
		}
		return out
	}
	ops := newOperators(t, "op", 2)
	tl1 := signTrustList(t, f.trustList(t, ops, 2, 1), ops.Keys...)
	tlSingle := signTrustList(t, f.trustList(t, ops, 1, 2), ops.Keys[0])
	// Two signature arrays differing in case: encoding/json and go-jose
	// read different ones.
	tlPayload, _ := json.Marshal(f.trustList(t, ops, 2, 3))
	entry := func(i int, typ string) string {
		h, _, s := splitJWS(t, forgeJWS(t, ops.Keys[i], tlHeaderFor(t, ops.Keys[i], typ), string(tlPayload)))
		return `{"protected":"` + h + `","signature":"` + s + `"}`
	}
	tlCase := `{"payload":"` + b64(tlPayload) + `","signatures":[` + entry(0, TypKeyset) + `],"Signatures":[` + entry(1, TypTrustList) + `]}`
	h, _, _ := splitJWS(t, codes["good_phone_code"])
	ct := f.GD.claims(t, f.Now, time.Hour).CT
	seeds := map[string][]string{
		"FuzzVerify": pick(codes, "good_phone_code", "good_malleated_signature", "fail_bad_header_jwk",
			"fail_unknown_key_other_province", "fail_bad_content_tampered", "fail_bad_algorithm_hs256_pubkey"),
		"FuzzParseKeyset":    pick(keysets, "good_keyset", "fail_wrong_signer_other_root", "fail_malformed_unknown_field"),
		"FuzzParseTrustList": {string(tl1), string(tlSingle), tlCase},
		"FuzzDecodeHeader": {h, b64([]byte(`{"ALG":"ES256","kid":"k","typ":"hcfed-code+jwt"}`)),
			b64([]byte(`{"alg":"ES256","kid":"k","typ":"hcfed-code+jwt","jwk":{}}`))},
		"FuzzOpenContent": {ct},
	}
	for name, vs := range seeds {
		dir := filepath.Join("testdata", "fuzz", name)
		old, _ := filepath.Glob(filepath.Join(dir, "seed_*"))
		for _, o := range old {
			_ = os.Remove(o)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sort.Strings(vs)
		for i, v := range vs {
			typ := "string"
			if name == "FuzzParseTrustList" {
				typ = "[]byte"
			}
			body := "go test fuzz v1\n" + typ + "(" + quoteGo(v) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed_"+string(rune('a'+i))), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mask := filepath.Join("testdata", "fuzz", "FuzzMask")
	_ = os.MkdirAll(mask, 0o755)
	for i, pair := range [][2]string{{"张三丰", "440106199001011234"}, {"*x", "G-1234-56"}, {"\xff李", "１２３４\xe4"}} {
		body := "go test fuzz v1\nstring(" + quoteGo(pair[0]) + ")\nstring(" + quoteGo(pair[1]) + ")\n"
		if err := os.WriteFile(filepath.Join(mask, "seed_"+string(rune('a'+i))), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
