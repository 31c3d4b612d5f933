package trust

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// verifyWant runs Verify at f.Now with no revocations and checks the reason.
func verifyWant(t *testing.T, f *testFederation, code string, want Reason) Result {
	t.Helper()
	r := Verify(code, f.Snap, NoRevocations{}, f.Now)
	if r.Reason != want {
		t.Fatalf("Verify = %q, want %q", r.Reason, want)
	}
	if r.Valid() != (want == ReasonOK) {
		t.Fatalf("Valid() = %v for reason %q", r.Valid(), r.Reason)
	}
	if want != ReasonOK && r.Content != (Content{}) {
		t.Fatalf("failed result carries content %+v", r.Content)
	}
	return r
}

func TestVerifyAcceptsGoodCodeAndReportsItsClaims(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, cl := f.GD.good(t, f.Now)
	r := verifyWant(t, f, code, ReasonOK)
	want := Result{Reason: ReasonOK, Issuer: gd, JTI: cl.JTI, KeyID: f.GD.Active.KeyID(),
		IssuedAt: time.Unix(cl.IssuedAt, 0), Expires: time.Unix(cl.Expires, 0), Content: greenContent}
	if r != want {
		t.Fatalf("result\n got %+v\nwant %+v", r, want)
	}
	if !strings.HasPrefix(code, CodePrefix) || len(code) > MaxCodeLen {
		t.Fatalf("code shape: %d bytes, %.8q", len(code), code)
	}
}

func TestVerifyAcceptsCodesOfEveryActiveMember(t *testing.T) {
	f := newTestFederation(t, testNow)
	for _, p := range []*testProvince{f.GD, f.SH} {
		code, _ := p.good(t, f.Now)
		if r := verifyWant(t, f, code, ReasonOK); r.Issuer != p.ID {
			t.Errorf("issuer %q, want %q", r.Issuer, p.ID)
		}
	}
}

func TestVerifyRejectsOversizedCode(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, _ := f.GD.good(t, f.Now)
	verifyWant(t, f, code+strings.Repeat("A", MaxCodeLen-len(code)+1), ReasonOversized)
	// At exactly the limit the size check passes and the shape check decides.
	verifyWant(t, f, code+strings.Repeat("A", MaxCodeLen-len(code)), ReasonMalformed)
}

func TestVerifyRejectsMalformedCodes(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, _ := f.GD.good(t, f.Now)
	h, p, s := splitJWS(t, code)
	body := strings.TrimPrefix(code, CodePrefix)
	for name, c := range map[string]string{
		"empty":                 "",
		"prefix only":           CodePrefix,
		"no prefix":             body,
		"lower-case prefix":     "hcf1:" + body,
		"future format":         "HCF2:" + body,
		"garbage":               "HCF1:\x00\xff not a token at all",
		"url instead of code":   "https://example.com/?c=" + body,
		"one part":              CodePrefix + h,
		"two parts":             CodePrefix + h + "." + p,
		"four parts":            code + ".AAAA",
		"header not base64":     CodePrefix + "!!!." + p + "." + s,
		"header padded":         CodePrefix + h + "=." + p + "." + s,
		"payload not base64":    CodePrefix + h + ".$$$." + s,
		"payload std base64":    CodePrefix + h + "." + p + "+/" + "." + s,
		"signature not base64":  CodePrefix + h + "." + p + ".***",
		"signature short":       CodePrefix + h + "." + p + "." + s[:len(s)-4],
		"signature long":        CodePrefix + h + "." + p + "." + s + "AAAA",
		"signature missing":     CodePrefix + h + "." + p + ".",
		"signature padded":      code + "==",
		"leading space":         " " + code,
		"trailing newline":      code + "\n",
		"payload is not json":   CodePrefix + h + "." + b64([]byte("hello")) + "." + s,
		"payload is json array": CodePrefix + h + "." + b64([]byte("[]")) + "." + s,
	} {
		t.Run(name, func(t *testing.T) { verifyWant(t, f, c, ReasonMalformed) })
	}
}

// The base64url of a 64-byte signature ends in a character carrying 2
// bits; a lenient decoder ignores the other 4, giving 16 spellings of one
// signature. Verify decodes strictly, so only one spelling passes.
func TestVerifyRejectsNonCanonicalSignatureEncoding(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, _ := f.GD.good(t, f.Now)
	last := code[len(code)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	if i%16 != 0 {
		t.Fatalf("last signature character %q carries non-zero padding bits", last)
	}
	variant := code[:len(code)-1] + string(alphabet[i+1])
	verifyWant(t, f, variant, ReasonMalformed)
}

// CVE-2025-27144: a token of many dots made go-jose allocate per dot
// before refusing it. Verify counts dots before it splits anything.
func TestVerifyRejectsTokenOfManyDotsCheaply(t *testing.T) {
	f := newTestFederation(t, testNow)
	dots := CodePrefix + strings.Repeat(".", MaxCodeLen-len(CodePrefix))
	verifyWant(t, f, dots, ReasonMalformed)
	allocs := testing.AllocsPerRun(100, func() { Verify(dots, f.Snap, NoRevocations{}, f.Now) })
	if allocs > 2 {
		t.Fatalf("Verify of %d dots made %.0f allocations, want at most 2", len(dots), allocs)
	}
	// Statements have a larger limit; the same shape must stay as cheap.
	big := strings.Repeat(".", MaxStatementLen)
	allocs = testing.AllocsPerRun(20, func() {
		if _, err := parseCompact(big, TypKeyset, MaxStatementLen); ReasonOf(err) != ReasonMalformed {
			t.Fatalf("parseCompact: %v", err)
		}
	})
	if allocs > 2 {
		t.Fatalf("parseCompact of %d dots made %.0f allocations, want at most 2", len(big), allocs)
	}
}

// The header is decoded before anything else in the token, so alg none is
// named as such whatever stands in the signature's place.
func TestVerifyRejectsAlgNone(t *testing.T) {
	f := newTestFederation(t, testNow)
	_, p, s := splitJWS(t, mustGood(t, f))
	h := b64([]byte(`{"alg":"none","kid":"` + f.GD.Active.KeyID() + `","typ":"` + TypCode + `"}`))
	for _, sig := range []string{"", "AAAA", s, b64(make([]byte, 64))} {
		verifyWant(t, f, CodePrefix+h+"."+p+"."+sig, ReasonBadAlgorithm)
	}
	noKid := b64([]byte(`{"alg":"none"}`))
	verifyWant(t, f, CodePrefix+noKid+"."+p+".", ReasonBadHeader)
}

func mustGood(t *testing.T, f *testFederation) string {
	t.Helper()
	code, _ := f.GD.good(t, f.Now)
	return code
}

// The classic key-confusion forgery: HS256 with the issuer's public key
// bytes as the HMAC secret, which a verifier that lets the token choose
// the algorithm would accept.
func TestVerifyRejectsHS256KeyedWithPublicKey(t *testing.T) {
	f := newTestFederation(t, testNow)
	kid := f.GD.Active.KeyID()
	cl := f.GD.claims(t, f.Now, time.Hour)
	payload, _ := json.Marshal(cl)
	jwkJSON, err := json.Marshal(mustJWK(t, f.GD.Active))
	if err != nil {
		t.Fatal(err)
	}
	point, err := f.GD.Active.Public().Bytes() // uncompressed SEC 1 point
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{jwkJSON, point} {
		input := b64([]byte(`{"alg":"HS256","kid":"`+kid+`","typ":"`+TypCode+`"}`)) + "." + b64(payload)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		sum := mac.Sum(nil)
		verifyWant(t, f, CodePrefix+input+"."+b64(sum), ReasonBadAlgorithm)
		// Doubled to the size of an ES256 signature: still refused for its alg.
		verifyWant(t, f, CodePrefix+input+"."+b64(append(sum, sum...)), ReasonBadAlgorithm)
	}
}

func TestVerifyRejectsOtherAlgorithms(t *testing.T) {
	f := newTestFederation(t, testNow)
	_, p, s := splitJWS(t, mustGood(t, f))
	for _, alg := range []string{"ES384", "ES512", "RS256", "PS256", "EdDSA", "es256", "ES256 ", ""} {
		h := b64([]byte(`{"alg":"` + alg + `","kid":"` + f.GD.Active.KeyID() + `","typ":"` + TypCode + `"}`))
		verifyWant(t, f, CodePrefix+h+"."+p+"."+s, ReasonBadAlgorithm)
	}
}

func TestVerifyRejectsOtherStatementTypesAsCode(t *testing.T) {
	f := newTestFederation(t, testNow)
	ks, err := SignKeyset(f.GD.Root, Keyset{Issuer: gd, Version: 1, IssuedAt: f.Now.Unix(), Expires: f.Now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	verifyWant(t, f, CodePrefix+ks, ReasonWrongType)
	// The same claims signed by the right key, under every other typ.
	cl := f.GD.claims(t, f.Now, time.Hour)
	for _, typ := range []string{TypKeyset, TypRevocation, TypContentKey, TypHeartbeat, TypSnapshot} {
		jws, err := f.GD.Active.Sign(typ, cl)
		if err != nil {
			t.Fatal(err)
		}
		verifyWant(t, f, CodePrefix+jws, ReasonWrongType)
	}
	for _, typ := range []string{"JWT", "jwt", "", TypTrustList, "hcfed-code+JWT"} {
		h := `{"alg":"ES256","kid":"` + f.GD.Active.KeyID() + `","typ":"` + typ + `"}`
		payload, _ := json.Marshal(cl)
		verifyWant(t, f, CodePrefix+forgeJWS(t, f.GD.Active.key, h, string(payload)), ReasonWrongType)
	}
}

// Headers are signed correctly by the province's real active key: the
// header itself is what must be refused.
func TestVerifyRejectsHeadersThatCouldSteerVerification(t *testing.T) {
	f := newTestFederation(t, testNow)
	kid := f.GD.Active.KeyID()
	jwk, _ := json.Marshal(mustJWK(t, f.GD.Active))
	payload, _ := json.Marshal(f.GD.claims(t, f.Now, time.Hour))
	tail := `"kid":"` + kid + `","typ":"` + TypCode + `"}`
	for name, h := range map[string]string{
		"embedded jwk":          `{"alg":"ES256","jwk":` + string(jwk) + `,` + tail,
		"jku":                   `{"alg":"ES256","jku":"https://evil.example/jwks.json",` + tail,
		"x5u":                   `{"alg":"ES256",` + `"kid":"` + kid + `","typ":"` + TypCode + `","x5u":"https://evil.example/c.pem"}`,
		"x5c":                   `{"alg":"ES256",` + `"kid":"` + kid + `","typ":"` + TypCode + `","x5c":["MIIB"]}`,
		"crit":                  `{"alg":"ES256","crit":["exp"],` + tail,
		"b64 false":             `{"alg":"ES256","b64":false,"crit":["b64"],` + tail,
		"cty":                   `{"alg":"ES256","cty":"JWT",` + tail,
		"upper-case ALG":        `{"ALG":"ES256",` + tail,
		"upper-case Kid":        `{"alg":"ES256","Kid":"` + kid + `","typ":"` + TypCode + `"}`,
		"duplicate alg":         `{"alg":"none","alg":"ES256",` + tail,
		"duplicate kid":         `{"alg":"ES256","kid":"other",` + tail,
		"whitespace":            `{"alg": "ES256", ` + tail,
		"newline":               "{\"alg\":\"ES256\",\n" + tail,
		"reordered":             `{"kid":"` + kid + `","alg":"ES256","typ":"` + TypCode + `"}`,
		"escaped name":          `{"\u0061lg":"ES256",` + tail,
		"escaped value":         `{"alg":"ES\u0032\u0035\u0036",` + tail,
		"trailing data":         `{"alg":"ES256",` + tail + `{}`,
		"trailing brace":        `{"alg":"ES256",` + tail + `}`,
		"missing kid":           `{"alg":"ES256","typ":"` + TypCode + `"}`,
		"empty kid":             `{"alg":"ES256","kid":"","typ":"` + TypCode + `"}`,
		"kid too long":          `{"alg":"ES256","kid":"` + strings.Repeat("k", 129) + `","typ":"` + TypCode + `"}`,
		"kid is a number":       `{"alg":"ES256","kid":1,"typ":"` + TypCode + `"}`,
		"header is null":        `null`,
		"header is an array":    `["ES256"]`,
		"header is not json":    `alg=ES256`,
		"header is empty":       ``,
		"invalid utf-8 in kid":  `{"alg":"ES256","kid":"` + kid + "\xff" + `","typ":"` + TypCode + `"}`,
		"nul in header":         `{"alg":"ES256",` + tail + "\x00",
		"html-unescaped in kid": `{"alg":"ES256","kid":"<` + kid + `>","typ":"` + TypCode + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			verifyWant(t, f, CodePrefix+forgeJWS(t, f.GD.Active.key, h, string(payload)), ReasonBadHeader)
		})
	}
	// The canonical header, signed the same way, passes: the refusals
	// above are about the header, not about forgeJWS.
	verifyWant(t, f, CodePrefix+forgeJWS(t, f.GD.Active.key, codeHeader(kid), string(payload)), ReasonOK)
}

func mustJWK(t *testing.T, s *StatementSigner) any {
	t.Helper()
	jwk, err := PublicJWK(s.Public(), "sig")
	if err != nil {
		t.Fatal(err)
	}
	return jwk
}

func TestVerifyRejectsUnknownOrMalformedClaims(t *testing.T) {
	f := newTestFederation(t, testNow)
	cl := f.GD.claims(t, f.Now, time.Hour)
	good, _ := json.Marshal(cl)
	with := func(edit func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	for name, payload := range map[string]string{
		"extra claim":          with(func(m map[string]any) { m["sub"] = "440106199001011234" }),
		"extra claim nbf":      with(func(m map[string]any) { m["nbf"] = cl.IssuedAt }),
		"missing v":            with(func(m map[string]any) { delete(m, "v") }),
		"format v2":            with(func(m map[string]any) { m["v"] = 2 }),
		"iss not six digits":   with(func(m map[string]any) { m["iss"] = "44000" }),
		"iss letters":          with(func(m map[string]any) { m["iss"] = "GD0000" }),
		"jti short":            with(func(m map[string]any) { m["jti"] = "abc" }),
		"jti missing":          with(func(m map[string]any) { delete(m, "jti") }),
		"jti not base64url":    with(func(m map[string]any) { m["jti"] = "HCF1:" + cl.JTI[5:] }),
		"jti trailing bits":    with(func(m map[string]any) { m["jti"] = cl.JTI[:21] + "B" }),
		"ct missing":           with(func(m map[string]any) { delete(m, "ct") }),
		"iat zero":             with(func(m map[string]any) { m["iat"] = 0 }),
		"exp negative":         with(func(m map[string]any) { m["exp"] = -1 }),
		"iat is a string":      with(func(m map[string]any) { m["iat"] = "2025-03-01" }),
		"iat is a float":       with(func(m map[string]any) { m["iat"] = 1.5 }),
		"trailing data":        string(good) + `{}`,
		"case-variant claim":   strings.Replace(string(good), `"iss"`, `"ISS"`, 1) + "",
		"payload is null":      `null`,
		"payload is a string":  `"HCF1"`,
		"payload is truncated": string(good[:len(good)-1]),
	} {
		t.Run(name, func(t *testing.T) {
			verifyWant(t, f, CodePrefix+forgeJWS(t, f.GD.Active.key, codeHeader(f.GD.Active.KeyID()), payload), ReasonMalformed)
		})
	}
}
