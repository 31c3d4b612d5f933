package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The generator behind TestStatementVectors -update=statements: a fresh
// federation (random keys) at testNow; only the fixture's recipients'
// side is written down.

func writeStatementVectors(t *testing.T) {
	f := newTestFederation(t, testNow)
	ops := newOperators(t, "op", 3)
	held := signTrustList(t, f.trustList(t, ops, 2, 1), ops.Keys[0], ops.Keys[1])
	req := lookupReq(t, f.Now)
	fx := statementsFixture{
		Comment: "TEST ONLY. Recipient-side fixture for the statement vectors beside it: public signing keys, and " +
			"enc private keys that exist only to open these test statements. Regenerate with: " +
			"go test ./trust -run TestStatementVectors -update=statements",
		Now:           f.Now.Unix(),
		Keys:          map[string][]KeysetEntry{gd: f.GD.keyset(t, 1, f.Now).Keys, sh: f.SH.keyset(t, 1, f.Now).Keys},
		EncKeys:       map[string]json.RawMessage{gd: privateJWK(t, f.GD.Enc), sh: privateJWK(t, f.SH.Enc)},
		HeldTrustList: string(held), LookupRequest: req,
	}
	b, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vectorDir, statementsFixtureFile), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	for kind, vs := range map[string]map[string]string{
		"trustlist":    trustListVectors(t, f, ops),
		"grant":        grantVectors(t, f),
		"lookup":       lookupVectors(t, f),
		"lookupanswer": lookupAnswerVectors(t, f, req),
	} {
		writeVectorDir(t, filepath.Join(vectorDir, kind), vs)
	}
	writeMalleabilitySeeds(t, f, held)
}

func privateJWK(t testing.TB, key *ecdsa.PrivateKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flipSig flips one bit of a compact JWS's signature.
func flipSig(t *testing.T, jws string) string {
	t.Helper()
	h, p, s := splitJWS(t, jws)
	sig := mustDecode(t, s)
	sig[7] ^= 0x04
	return h + "." + p + "." + b64(sig)
}

// trustListVectors are successors offered to nodes holding version 1,
// signed by op1 and op2 of op1..op3 with threshold 2.
func trustListVectors(t *testing.T, f *testFederation, ops *testOperators) map[string]string {
	k := ops.Keys
	v2 := f.trustList(t, ops, 2, 2)
	payload, _ := json.Marshal(v2)
	p64 := b64(payload)
	good := string(signTrustList(t, v2, k[0], k[1]))
	sigEntry := func(key *ecdsa.PrivateKey, header string) string {
		h, _, s := splitJWS(t, forgeJWS(t, key, header, string(payload)))
		return `{"protected":"` + h + `","signature":"` + s + `"}`
	}
	doc := func(entries ...string) string {
		return `{"payload":"` + p64 + `","signatures":[` + strings.Join(entries, ",") + `]}`
	}
	kid0, _ := Thumbprint(&k[0].PublicKey)
	// Rotation: two new operators replace all three; old k and new k sign.
	newOps := newOperators(t, "new", 2)
	rotated := f.trustList(t, newOps, 2, 2)
	expired := f.trustList(t, ops, 2, 2)
	expired.IssuedAt, expired.Expires = f.Now.Add(-10*24*time.Hour).Unix(), f.Now.Add(-time.Hour).Unix()
	other := f.trustList(t, ops, 2, 2)
	other.Federation = "hcfed-other"
	extra := []byte(strings.Replace(string(payload), `{"fed"`, `{"admin":"me","fed"`, 1))
	extraDoc, _ := SignTrustList(nil, extra, k[0])
	extraDoc, _ = SignTrustList(extraDoc, nil, k[1])
	flat := sigEntry(k[0], tlHeaderFor(t, k[0], TypTrustList))
	return map[string]string{
		"good_next_version":      good,
		"good_all_three_signed":  string(signTrustList(t, v2, k[2], k[0], k[1])),
		"good_operator_rotation": string(signTrustList(t, rotated, k[0], k[1], newOps.Keys[0], newOps.Keys[1])),

		"fail_threshold_one_operator":          string(signTrustList(t, v2, k[0])),
		"fail_threshold_same_operator_twice":   string(signTrustList(t, v2, k[0], k[0])),
		"fail_threshold_new_operators_only":    string(signTrustList(t, rotated, newOps.Keys[0], newOps.Keys[1])),
		"fail_threshold_bad_signature":         doc(sigEntry(k[0], tlHeaderFor(t, k[0], TypTrustList)), mustFlipEntry(t, sigEntry(k[1], tlHeaderFor(t, k[1], TypTrustList)))),
		"fail_threshold_kid_of_other_operator": doc(sigEntry(k[0], tlHeaderFor(t, k[0], TypTrustList)), sigEntry(k[2], tlHeaderFor(t, k[1], TypTrustList))),
		"fail_rollback_same_version":           string(signTrustList(t, f.trustList(t, ops, 2, 1), k[0], k[2])),
		"fail_expired_list":                    string(signTrustList(t, expired, k[0], k[1])),
		"fail_wrong_signer_other_federation":   string(signTrustList(t, other, k[0], k[1])),
		"fail_malformed_whitespace":            strings.Replace(good, `","signatures"`, `", "signatures"`, 1),
		"fail_malformed_trailing_newline":      good + "\n",
		"fail_malformed_case_variant_member":   strings.Replace(good, `,{"protected"`, `],"Signatures":[{"protected"`, 1),
		"fail_malformed_unknown_payload_field": string(extraDoc),
		"fail_malformed_flattened":             `{"payload":"` + p64 + `",` + strings.TrimPrefix(flat, "{"),
		"fail_malformed_no_signatures":         doc(),
		"fail_bad_header_unprotected_header":   doc(`{"header":{"kid":"` + kid0 + `"},` + strings.TrimPrefix(flat, "{")),
		"fail_bad_header_embedded_jwk": doc(sigEntry(k[0], `{"alg":"ES256","jwk":`+string(jwkJSON(t, &k[0].PublicKey))+
			`,"kid":"`+kid0+`","typ":"`+TypTrustList+`"}`), sigEntry(k[1], tlHeaderFor(t, k[1], TypTrustList))),
		"fail_bad_header_reordered": doc(sigEntry(k[0], `{"kid":"`+kid0+`","alg":"ES256","typ":"`+TypTrustList+`"}`)),
		"fail_bad_algorithm_none":   doc(`{"protected":"` + b64([]byte(`{"alg":"none","kid":"`+kid0+`","typ":"`+TypTrustList+`"}`)) + `","signature":""}`),
		"fail_wrong_type_keyset":    doc(sigEntry(k[0], tlHeaderFor(t, k[0], TypKeyset)), sigEntry(k[1], tlHeaderFor(t, k[1], TypTrustList))),
	}
}

// mustFlipEntry flips a bit in the signature of one document entry.
func mustFlipEntry(t *testing.T, entry string) string {
	t.Helper()
	var s trustListSig
	if err := json.Unmarshal([]byte(entry), &s); err != nil {
		t.Fatal(err)
	}
	sig := mustDecode(t, s.Signature)
	sig[40] ^= 1
	return `{"protected":"` + s.Protected + `","signature":"` + b64(sig) + `"}`
}

// grantVectors are grants from Guangdong to Shanghai.
func grantVectors(t *testing.T, f *testFederation) map[string]string {
	now, g := f.Now, f.GD
	day := 24 * time.Hour
	cks := []ContentKey{g.CK}
	for i, label := range []string{"2025-03-02", "2025-02-28"} {
		cks = append(cks, ContentKey{ID: ContentKeyID(gd, label), Key: fixedBytes(label, ContentKeyLen),
			NotBefore: now.Add(time.Duration(i) * day), Expires: now.Add(8 * day)})
	}
	grantBy := func(s *StatementSigner, to string, toEnc *ecdsa.PublicKey, keys []ContentKey) string {
		raw, err := GrantContentKeys(s, gd, to, toEnc, keys, now)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	toSH := &f.SH.Enc.PublicKey
	good := grantBy(g.Active, sh, toSH, cks)
	var gr ContentKeyGrant
	if err := json.Unmarshal(mustDecode(t, strings.Split(good, ".")[1]), &gr); err != nil {
		t.Fatal(err)
	}
	edited := func(edit func(*ContentKeyGrant)) ContentKeyGrant {
		c := gr
		c.Keys = append([]GrantedKey(nil), gr.Keys...)
		edit(&c)
		return c
	}
	many := edited(func(c *ContentKeyGrant) {
		for len(c.Keys) <= MaxGrantKeys {
			c.Keys = append(c.Keys, gr.Keys[0])
		}
	})
	extra, _ := json.Marshal(gr)
	extra = []byte(strings.Replace(string(extra), `{"iss"`, `{"note":"x","iss"`, 1))
	extraRaw, _ := g.Active.SignBytes(TypContentKey, extra)
	short := ContentKey{ID: ContentKeyID(gd, "short"), Key: fixedBytes("short", 16), NotBefore: now, Expires: now.Add(day)}
	return map[string]string{
		"good_three_keys":     good,
		"good_one_key":        grantBy(g.Active, sh, toSH, cks[:1]),
		"good_retired_signer": grantBy(g.Retired, sh, toSH, cks),

		"fail_not_recipient_addressed_to_bj":      grantBy(g.Active, bj, toSH, cks),
		"fail_bad_content_sealed_to_another_node": grantBy(g.Active, sh, &f.BJ.Enc.PublicKey, cks),
		"fail_bad_content_short_key":              grantBy(g.Active, sh, toSH, []ContentKey{short}),
		"fail_wrong_signer_foreign_content_key":   mustSign(t, g.Active, TypContentKey, edited(func(c *ContentKeyGrant) { c.Keys[1].KeyID = ContentKeyID(sh, "x") })),
		"fail_wrong_signer_issuer_sh":             mustSign(t, g.Active, TypContentKey, edited(func(c *ContentKeyGrant) { c.Issuer = sh })),
		"fail_unknown_key_sh_key":                 mustSign(t, f.SH.Active, TypContentKey, gr),
		"fail_key_compromised_signer":             grantBy(g.Compromised, sh, toSH, cks),
		"fail_key_not_active_next":                grantBy(g.Next, sh, toSH, cks),
		"fail_malformed_no_keys":                  mustSign(t, g.Active, TypContentKey, edited(func(c *ContentKeyGrant) { c.Keys = nil })),
		"fail_malformed_too_many_keys":            mustSign(t, g.Active, TypContentKey, many),
		"fail_malformed_unknown_field":            extraRaw,
		"fail_wrong_type_revocation":              mustSign(t, g.Active, TypRevocation, gr),
		"fail_bad_signature_flipped":              flipSig(t, good),
	}
}

// lookupVectors are sealed requests from Shanghai to Guangdong.
func lookupVectors(t *testing.T, f *testFederation) map[string]string {
	now, s := f.Now, f.SH
	req := lookupReq(t, now)
	edited := func(edit func(*LookupRequest)) LookupRequest { c := req; edit(&c); return c }
	inner := mustSign(t, s.Active, TypLookup, req)
	sealInner := func(jws, cty string, to *testProvince) string {
		raw, err := sealTo([]byte(jws), cty, &to.Enc.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good, err := SealLookupRequest(s.Active, req, &f.GD.Enc.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"good_request":     good,
		"good_retired_key": sealAny(t, s.Retired, TypLookup, req, f.GD),

		"fail_no_legal_basis_blank":          sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.LegalBasis = " " }), f.GD),
		"fail_no_legal_basis_no_case":        sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.CaseID = "" }), f.GD),
		"fail_expired_old":                   sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.IssuedAt = now.Add(-LookupWindow - time.Minute).Unix() }), f.GD),
		"fail_not_yet_valid_future":          sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.IssuedAt = now.Add(ClockSkew + time.Minute).Unix() }), f.GD),
		"fail_not_recipient_sealed_to_sh":    sealAny(t, s.Active, TypLookup, req, f.SH),
		"fail_not_recipient_addressed_to_bj": sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.To = bj }), f.GD),
		"fail_wrong_signer_issuer_bj":        sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.Issuer = bj }), f.GD),
		"fail_unknown_key_home_key":          sealAny(t, f.GD.Active, TypLookup, req, f.GD),
		"fail_key_compromised_signer":        sealAny(t, s.Compromised, TypLookup, req, f.GD),
		"fail_wrong_type_receipt":            sealAny(t, s.Active, TypReceipt, req, f.GD),
		"fail_bad_header_contact_cty":        sealInner(inner, contactCty, f.GD),
		"fail_malformed_not_sealed":          inner,
		"fail_malformed_bad_jti":             sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.JTI = "x" }), f.GD),
		"fail_lookup_unproven_no_proof":      sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.Proof = "" }), f.GD),
		"fail_lookup_unproven_short_proof":   sealAny(t, s.Active, TypLookup, edited(func(r *LookupRequest) { r.Proof = r.Proof[:40] }), f.GD),
		"fail_bad_signature_flipped":         sealInner(flipSig(t, inner), sealedCty, f.GD),
	}
}

// lookupAnswerVectors are Guangdong's answers to req.
func lookupAnswerVectors(t *testing.T, f *testFederation, req LookupRequest) map[string]string {
	now, g := f.Now, f.GD
	contact := &Contact{Name: "张三", Phone: "13800000000"}
	found, err := AnswerLookup(g.Active, &req, &f.SH.Enc.PublicKey, contact, now)
	if err != nil {
		t.Fatal(err)
	}
	var a LookupAnswer
	if err := json.Unmarshal(mustDecode(t, strings.Split(found, ".")[1]), &a); err != nil {
		t.Fatal(err)
	}
	edited := func(edit func(*LookupAnswer)) LookupAnswer { c := a; edit(&c); return c }
	notFound, _ := AnswerLookup(g.Active, &req, &f.SH.Enc.PublicKey, nil, now)
	refused, _ := RefuseLookup(g.Active, &req, ReasonRateLimited, now)
	toBJ, _ := AnswerLookup(g.Active, &req, &f.BJ.Enc.PublicKey, contact, now)
	return map[string]string{
		"good_found":        found,
		"good_not_found":    notFound,
		"good_refused_rate": refused,
		"good_retired_key":  mustSign(t, g.Retired, TypLookupAnswer, a),

		"fail_replayed_other_nonce":            mustSign(t, g.Active, TypLookupAnswer, edited(func(a *LookupAnswer) { a.Nonce = mustJTI(t) })),
		"fail_not_recipient_addressed_to_bj":   mustSign(t, g.Active, TypLookupAnswer, edited(func(a *LookupAnswer) { a.To = bj })),
		"fail_not_recipient_data_sealed_to_bj": toBJ,
		"fail_wrong_signer_issuer_bj":          mustSign(t, g.Active, TypLookupAnswer, edited(func(a *LookupAnswer) { a.Issuer = bj })),
		"fail_unknown_key_sh_key":              mustSign(t, f.SH.Active, TypLookupAnswer, a),
		"fail_malformed_refusal_with_data":     mustSign(t, g.Active, TypLookupAnswer, edited(func(a *LookupAnswer) { a.Refused = ReasonRateLimited })),
		"fail_malformed_found_without_data":    mustSign(t, g.Active, TypLookupAnswer, edited(func(a *LookupAnswer) { a.Data = "" })),
		"fail_expired_old":                     mustSign(t, g.Active, TypLookupAnswer, edited(func(a *LookupAnswer) { a.IssuedAt = now.Add(-LookupWindow - time.Minute).Unix() })),
		"fail_wrong_type_lookup":               mustSign(t, g.Active, TypLookup, a),
		"fail_bad_signature_flipped":           flipSig(t, found),
	}
}

// writeMalleabilitySeeds writes the seed corpora of the parse → marshal
// fuzz targets: headers and statements HCFed writes, and near misses.
func writeMalleabilitySeeds(t *testing.T, f *testFederation, held []byte) {
	code, _ := f.GD.good(t, f.Now)
	body := strings.TrimPrefix(code, CodePrefix)
	keyset := f.GD.signedKeyset(t, 1, f.Now)
	var doc trustListDoc
	if err := json.Unmarshal(held, &doc); err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, s := range []string{body, keyset, doc.Signatures[0].Protected + ".."} {
		h, _, _ := strings.Cut(s, ".")
		headers = append(headers, string(mustDecode(t, h)))
	}
	ct := f.GD.claims(t, f.Now, time.Hour).CT
	ctHeader, _, _ := strings.Cut(ct, ".")
	headers = append(headers, string(mustDecode(t, ctHeader)),
		`{"alg":"ES256","kid":"k","typ":"hcfed-code+jwt","x":""}`, `{"alg":"ES256", "kid":"k","typ":"t"}`)
	writeFuzzCorpus(t, "FuzzHeaderMalleability", "[]byte", headers)
	writeFuzzCorpus(t, "FuzzCompactMalleability", "string", []string{body, keyset, malleate(t, code)[len(CodePrefix):],
		mustSign(t, f.GD.Active, TypSnapshot, SnapshotManifest{Issuer: gd, Seq: 1, IssuedAt: f.Now.Unix(), Format: SnapshotFormat}), body + "\n"})
}

// writeFuzzCorpus replaces the seed files of one single-argument fuzz
// target with vs, arguments of Go type typ.
func writeFuzzCorpus(t *testing.T, name, typ string, vs []string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	old, _ := filepath.Glob(filepath.Join(dir, "seed_*"))
	for _, o := range old {
		_ = os.Remove(o)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		body := "go test fuzz v1\n" + typ + "(" + quoteGo(v) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed_"+string(rune('a'+i))), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
