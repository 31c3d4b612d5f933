package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hcfed/hcfed/internal/testkit"
)

func TestMaskNameKeepsOnlyFirstCharacter(t *testing.T) {
	for in, want := range map[string]string{
		"张三丰":          "张*",
		"张三":           "张*",
		"  李四 ":        "李*",
		"Zhang San":    "Z*",
		"阿依古丽·买买提":     "阿*",
		"":             "*",
		"   ":          "*",
		"*张三":          "*", // "**" would not be a masked name
		"\x00abc":      "*",
		"\u200b隐":      "*", // zero-width space first: nothing to show
		"\xff\xfeabc":  "*",
		"😀 emoji name": "😀*",
	} {
		got := MaskName(in)
		if got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
		if !isMaskedName(got) {
			t.Errorf("MaskName(%q) = %q is not a masked name", in, got)
		}
	}
}

func TestMaskDocumentKeepsAtMostFourASCIICharacters(t *testing.T) {
	for in, want := range map[string]string{
		"440106199001011234": "****1234",
		"44010619900101123X": "****123X",
		" E12345678 ":        "****5678",
		"G-1234-56":          "****456", // separators dropped; 3 of 7 kept characters
		"护照E1234５６":          "****34",  // full-width digits are not ASCII: dropped
		"12345":              "****45",  // short numbers keep at most half
		"1234":               "****34",
		"1":                  "****",
		"":                   "****",
		"身份证":                "****",
		"\xff\xfe\xfd\xfc":   "****",
		"1234\xe4":           "****34", // the old byte slice cut this rune in half
	} {
		got := MaskDocument(in)
		if got != want {
			t.Errorf("MaskDocument(%q) = %q, want %q", in, got, want)
		}
		if !isMaskedDoc(got) {
			t.Errorf("MaskDocument(%q) = %q is not a masked document", in, got)
		}
	}
}

func TestContentValidateRefusesUnmaskedData(t *testing.T) {
	if err := greenContent.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Content{
		"full name":       {Status: Green, Name: "张三", Doc: "****1234"},
		"latin name":      {Status: Green, Name: "Zhang", Doc: "****1234"},
		"empty name":      {Status: Green, Name: "", Doc: "****1234"},
		"asterisks only":  {Status: Green, Name: "**", Doc: "****1234"},
		"star then char":  {Status: Green, Name: "*张", Doc: "****1234"},
		"full id number":  {Status: Green, Name: "张*", Doc: "440106199001011234"},
		"five kept":       {Status: Green, Name: "张*", Doc: "****01234"},
		"phone":           {Status: Green, Name: "张*", Doc: "13800000000"},
		"doc separator":   {Status: Green, Name: "张*", Doc: "****12-4"},
		"doc non-ascii":   {Status: Green, Name: "张*", Doc: "****一二"},
		"no status":       {Status: "", Name: "张*", Doc: "****1234"},
		"unknown status":  {Status: "GREEN", Name: "张*", Doc: "****1234"},
		"invalid utf8":    {Status: Green, Name: "\xff*", Doc: "****1234"},
		"empty doc":       {Status: Green, Name: "张*", Doc: ""},
		"unmasked prefix": {Status: Green, Name: "张*", Doc: "***1234"},
		// What MaskName never writes, and a scanner page would show as
		// text that reorders or hides what follows.
		"bidi override": {Status: Green, Name: "\u202e*", Doc: "****1234"},
		"zero width":    {Status: Green, Name: "\u200b*", Doc: "****1234"},
		"control":       {Status: Green, Name: "\x07*", Doc: "****1234"},
		"space":         {Status: Green, Name: "\u3000*", Doc: "****1234"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v validated", name, c)
		}
	}
	for _, ok := range []Content{
		{Status: Yellow, Name: "*", Doc: "****"},
		{Status: Red, Name: "Z*", Doc: "****ab"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestIssueRefusesUnmaskedContent(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	ci := p.issuer(t, p.Active)
	for _, c := range []Content{
		{Status: Green, Name: "张三", Doc: "****1234"},
		{Status: Green, Name: "张*", Doc: "440106199001011234"},
		{Status: "blue", Name: "张*", Doc: "****1234"},
	} {
		if code, _, err := ci.Issue(mustJTI(t), testNow, testNow.Add(time.Hour), c); err == nil || code != "" {
			t.Fatalf("Issue(%+v) = %q, %v", c, code, err)
		}
	}
	// What MaskName and MaskDocument produce is always accepted.
	c := Content{Status: Green, Name: MaskName("欧阳娜娜"), Doc: MaskDocument("440106-19900101-123X")}
	if _, _, err := ci.Issue(mustJTI(t), testNow, testNow.Add(time.Hour), c); err != nil {
		t.Fatal(err)
	}
}

func TestIssueRefusesJTINotMadeByNewJTI(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	ci := p.issuer(t, p.Active)
	for _, jti := range []string{"", "1", "subject-42", strings.Repeat("A", 21) + "B", "AAAAAAAAAAAAAAAAAAAA=="} {
		if _, _, err := ci.Issue(jti, testNow, testNow.Add(time.Hour), greenContent); err == nil {
			t.Errorf("Issue accepted jti %q", jti)
		}
	}
}

func TestIssueCutsValidityToKeysAndLimit(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	active := p.key(p.Active)
	for name, c := range map[string]struct {
		signer  *StatementSigner
		keyExp  time.Time
		ckExp   time.Time
		iat     time.Time
		asked   time.Duration
		wantExp time.Time
	}{
		"phone code":        {p.Active, active.Expires, p.CK.Expires, testNow, DefaultCodeLifetime, testNow.Add(DefaultCodeLifetime)},
		"paper code":        {p.Active, active.Expires, p.CK.Expires, testNow, MaxCodeLifetime, testNow.Add(MaxCodeLifetime)},
		"beyond the limit":  {p.Active, time.Time{}, time.Time{}, testNow, 30 * 24 * time.Hour, testNow.Add(MaxCodeLifetime)},
		"signing key ends":  {p.Active, testNow.Add(time.Hour), p.CK.Expires, testNow, DefaultCodeLifetime, testNow.Add(time.Hour)},
		"content key ends":  {p.Active, active.Expires, testNow.Add(2 * time.Hour), testNow, DefaultCodeLifetime, testNow.Add(2 * time.Hour)},
		"no key expiry set": {p.Active, time.Time{}, time.Time{}, testNow, DefaultCodeLifetime, testNow.Add(DefaultCodeLifetime)},
	} {
		t.Run(name, func(t *testing.T) {
			ck := p.CK
			ck.Expires = c.ckExp
			ci, err := NewCodeIssuer(gd, c.signer, c.keyExp, ck)
			if err != nil {
				t.Fatal(err)
			}
			_, cl, err := ci.Issue(mustJTI(t), c.iat, c.iat.Add(c.asked), greenContent)
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Unix(cl.Expires, 0); !got.Equal(c.wantExp) {
				t.Fatalf("exp %v, want %v", got, c.wantExp)
			}
			if cl.Issuer != gd || cl.Version != FormatVersion || !isJTI(cl.JTI) || cl.IssuedAt != c.iat.Unix() {
				t.Fatalf("claims %+v", cl)
			}
		})
	}
	ci, err := NewCodeIssuer(gd, p.Active, testNow, p.CK)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ci.Issue(mustJTI(t), testNow, testNow.Add(time.Hour), greenContent); err == nil {
		t.Fatal("issued a code under a signing key that has expired")
	}
	if ci.KeyID() != p.Active.KeyID() || ci.ContentKeyID() != p.CK.ID {
		t.Fatal("issuer reports the wrong keys")
	}
}

func TestNewCodeIssuerRefusesContentKeyOfWrongSize(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	for _, n := range []int{0, 16, 24, 31, 33} {
		ck := p.CK
		ck.Key = make([]byte, n)
		if _, err := NewCodeIssuer(gd, p.Active, time.Time{}, ck); err == nil {
			t.Errorf("content key of %d bytes accepted", n)
		}
	}
}

// A code holds no personal data in clear: the masked fields are only in
// the ciphertext, and nothing but iss, jti, iat, exp, v and ct is signed.
func TestIssuedCodeCarriesNoContentInClear(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	c := Content{Status: Red, Name: "欧*", Doc: "****987X"}
	code, cl, err := p.issuer(t, p.Active).Issue(mustJTI(t), testNow, testNow.Add(time.Hour), c)
	if err != nil {
		t.Fatal(err)
	}
	h64, p64, _ := splitJWS(t, code)
	header, payload := mustDecode(t, h64), mustDecode(t, p64)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 6 {
		t.Fatalf("claims %v", fields)
	}
	// The header's kid, the code id and the ciphertext are base64url text
	// of random bytes, which spells "red" in about one code in 1,800:
	// they are searched decoded (testkit.ReadableParts).
	views, err := testkit.ReadableParts(header, "kid")
	if err != nil {
		t.Fatal(err)
	}
	claims, err := testkit.ReadableParts(payload, "jti", "ct")
	if err != nil {
		t.Fatal(err)
	}
	views = append(views, claims...)
	for _, secret := range []string{"red", "欧", "987X", `"st"`, `"dn"`} {
		for _, v := range views {
			if bytes.Contains(v, []byte(secret)) {
				t.Fatalf("code carries %q in clear", secret)
			}
		}
		// In the code's text itself only what base64url cannot spell by
		// chance: "red" turns up in about one code in 400.
		if strings.ContainsFunc(secret, notBase64URL) && strings.Contains(code, secret) {
			t.Fatalf("code text carries %q in clear", secret)
		}
	}
	if strings.Count(cl.CT, ".") != 4 {
		t.Fatalf("ct is not a compact JWE: %q", cl.CT)
	}
}

// openContent decrypts directly rather than through go-jose: for codes
// that go-jose encrypted, both must agree on the plaintext.
func TestOpenContentAgreesWithGoJose(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	keys := map[string]ContentKey{p.CK.ID: p.CK}
	for _, c := range []Content{greenContent, {Status: Yellow, Name: "*", Doc: "****"}, {Status: Red, Name: "Ω*", Doc: "****x9"}} {
		ct := seal(t, p.CK, c)
		got, r := openContent(ct, gd, keys)
		if r != ReasonOK || got != c {
			t.Fatalf("openContent = %+v, %q", got, r)
		}
		jwe, err := jose.ParseEncryptedCompact(ct, []jose.KeyAlgorithm{jose.DIRECT}, contentEncs)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := jwe.Decrypt(p.CK.Key)
		if err != nil {
			t.Fatal(err)
		}
		var viaJose Content
		if err := json.Unmarshal(plain, &viaJose); err != nil || viaJose != got {
			t.Fatalf("go-jose read %+v, openContent %+v", viaJose, got)
		}
	}
}

func TestOpenContentRefusesOversizedAndWrongKeyLength(t *testing.T) {
	p := newTestProvince(t, gd, testNow)
	ct := seal(t, p.CK, greenContent)
	if _, r := openContent(ct+strings.Repeat("A", MaxCodeLen), gd, map[string]ContentKey{p.CK.ID: p.CK}); r != ReasonMalformed {
		t.Fatalf("oversized ct: %q", r)
	}
	short := p.CK
	short.Key = short.Key[:16] // an AES-128 key under the same id must not be used
	if _, r := openContent(ct, gd, map[string]ContentKey{p.CK.ID: short}); r != ReasonBadContent {
		t.Fatalf("16-byte content key: %q", r)
	}
}

func TestNewContentKeyDrawsFreshKeys(t *testing.T) {
	a, err := NewContentKey(ContentKeyID(gd, "2025-03-01"), testNow, testNow.Add(24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewContentKey(a.ID, testNow, testNow.Add(24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "440000/2025-03-01" || len(a.Key) != ContentKeyLen || bytes.Equal(a.Key, b.Key) {
		t.Fatalf("content keys %s %x %x", a.ID, a.Key, b.Key)
	}
	if _, err := NewContentKey("x", testNow, testNow, bytes.NewReader(make([]byte, ContentKeyLen-1))); err == nil {
		t.Fatal("short random source accepted")
	}
	fixed, _ := NewContentKey("x", testNow, testNow, bytes.NewReader(fixedBytes("k", 32)))
	if !bytes.Equal(fixed.Key, fixedBytes("k", 32)) {
		t.Fatal("reader not used")
	}
}

func TestNewJTIIsRandom128Bits(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		j, err := NewJTI(nil)
		if err != nil || !isJTI(j) || seen[j] {
			t.Fatalf("jti %q, %v", j, err)
		}
		seen[j] = true
	}
	if _, err := NewJTI(bytes.NewReader(make([]byte, JTILen-1))); err == nil {
		t.Fatal("short random source accepted")
	}
	sum := sha256.Sum256(nil)
	j, _ := NewJTI(bytes.NewReader(sum[:]))
	if j != b64(sum[:JTILen]) {
		t.Fatalf("jti %q from fixed reader", j)
	}
}

// A code id is a jti as NewJTI's, its first 48 bits the issuance time in
// milliseconds and its other 80 from the random source, so ids issued in
// the same milliseconds share their first characters and no two are alike.
func TestNewCodeIDCarriesTheMillisecondAndRandomBits(t *testing.T) {
	at := time.UnixMilli(0x0123_4567_89ab)
	seen := map[string]bool{}
	for range 100 {
		j, err := NewCodeID(at, nil)
		if err != nil || !isJTI(j) || seen[j] {
			t.Fatalf("code id %q, %v", j, err)
		}
		seen[j] = true
		if !strings.HasPrefix(j, "ASNFZ4mr") { // 01 23 45 67 89 ab
			t.Fatalf("code id %q does not start with the time", j)
		}
	}
	sum := sha256.Sum256(nil)
	j, err := NewCodeID(at, bytes.NewReader(sum[:]))
	if want := b64(append([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab}, sum[:JTILen-codeIDTimeLen]...)); err != nil || j != want {
		t.Fatalf("code id %q, %v; want %q", j, err, want)
	}
	if _, err := NewCodeID(at, bytes.NewReader(make([]byte, JTILen-codeIDTimeLen-1))); err == nil {
		t.Fatal("short random source accepted")
	}
}

func TestReasonOfReadsReasonsThroughWrapping(t *testing.T) {
	if ReasonOf(nil) != ReasonOK {
		t.Fatal("nil error is not ok")
	}
	if ReasonOf(errors.New("disk full")) != ReasonMalformed {
		t.Fatal("foreign error is not malformed")
	}
	wrapped := errors.Join(errors.New("context"), fail(ReasonRevoked, "jti x"))
	if ReasonOf(wrapped) != ReasonRevoked {
		t.Fatalf("wrapped: %q", ReasonOf(wrapped))
	}
	if got := fail(ReasonExpired, "").Error(); got != "expired" {
		t.Fatalf("Error() = %q", got)
	}
	if got := fail(ReasonExpired, "keyset v3").Error(); got != "expired: keyset v3" {
		t.Fatalf("Error() = %q", got)
	}
}

// notBase64URL reports whether r is outside the base64url alphabet.
func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}
