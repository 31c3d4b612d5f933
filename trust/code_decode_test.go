package trust

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// claimsPayloads are payloads the hand-written claims reader must take
// (canonical) or leave to json.Unmarshal + isCanonical.
var claimsPayloads = []struct {
	payload   string
	canonical bool
}{
	{`{"iss":"440000","jti":"AAAAAAAAAAAAAAAAAAAAAA","iat":1740816000,"exp":1740902400,"v":1,"ct":"a.b.c.d.e"}`, true},
	{`{"iss":"","jti":"","iat":0,"exp":0,"v":0,"ct":""}`, true},
	{"{\"iss\":\"广东\",\"jti\":\"x\",\"iat\":-1,\"exp\":-9223372036854775808,\"v\":9223372036854775807,\"ct\":\"~\x7f\"}", true},
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"c","x":1}`, false},                   // unknown member
	{`{"iss":"440000", "jti":"x","iat":1,"exp":2,"v":1,"ct":"c"}`, false},                        // space
	{`{"jti":"x","iss":"440000","iat":1,"exp":2,"v":1,"ct":"c"}`, false},                         // order
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1}`, false},                                  // missing member
	{`{"ISS":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"c"}`, false},                         // case variant
	{`{"iss":"4\u0034","jti":"x","iat":1,"exp":2,"v":1,"ct":"c"}`, false},                        // escape
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"a<b"}`, false},                       // HTML character
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"a&b"}`, false},                       // HTML character
	{"{\"iss\":\"440000\",\"jti\":\"x\u2028\",\"iat\":1,\"exp\":2,\"v\":1,\"ct\":\"c\"}", false}, // U+2028
	{"{\"iss\":\"4\xff\",\"jti\":\"x\",\"iat\":1,\"exp\":2,\"v\":1,\"ct\":\"c\"}", false},        // invalid UTF-8
	{"{\"iss\":\"4\t\",\"jti\":\"x\",\"iat\":1,\"exp\":2,\"v\":1,\"ct\":\"c\"}", false},          // control character
	{`{"iss":"440000","jti":"x","iat":01,"exp":2,"v":1,"ct":"c"}`, false},                        // leading zero
	{`{"iss":"440000","jti":"x","iat":-0,"exp":2,"v":1,"ct":"c"}`, false},                        // minus zero
	{`{"iss":"440000","jti":"x","iat":1.0,"exp":2,"v":1,"ct":"c"}`, false},                       // float
	{`{"iss":"440000","jti":"x","iat":1e3,"exp":2,"v":1,"ct":"c"}`, false},                       // exponent
	{`{"iss":"440000","jti":"x","iat":9223372036854775808,"exp":2,"v":1,"ct":"c"}`, false},       // past int64
	{`{"iss":"440000","jti":"x","iat":-9223372036854775809,"exp":2,"v":1,"ct":"c"}`, false},      // past int64
	{`{"iss":"440000","jti":"x","iat":12345678901234567890,"exp":2,"v":1,"ct":"c"}`, false},      // 20 digits
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"c"} `, false},                        // trailing space
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"c"}{}`, false},                       // trailing data
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"c","ct":"d"}`, false},                // duplicate
	{`{"iss":"440000","jti":"x","iat":1,"exp":2,"v":1,"ct":"c`, false},                           // cut short
	{`{"iss":null,"jti":"x","iat":1,"exp":2,"v":1,"ct":"c"}`, false},                             // null
}

// contentPayloads are decrypted contents the hand-written content reader
// must take or leave to json.Unmarshal + isCanonical.
var contentPayloads = []struct {
	payload   string
	canonical bool
}{
	{`{"st":"green","dn":"张*","doc":"****1234"}`, true},
	{`{"st":"","dn":"","doc":""}`, true},
	{`{"st":"red","dn":"张*","doc":"****1234","x":""}`, false},     // unknown member
	{`{"dn":"张*","st":"red","doc":"****1234"}`, false},            // order
	{`{"st":"red","dn":"\u5f20*","doc":"****1234"}`, false},       // escape
	{`{"st":"red","dn":"张*","doc":"**>*1234"}`, false},            // HTML character
	{"{\"st\":\"red\",\"dn\":\"张\u2029\",\"doc\":\"x\"}", false},  // U+2029
	{"{\"st\":\"red\",\"dn\":\"\xe5\xbc\",\"doc\":\"x\"}", false}, // cut rune
	{`{"st":"red","dn":"张*","doc":"****1234"}` + "\n", false},     // trailing newline
	{`{"st":"red","dn":"张*","doc":1234}`, false},                  // number for a string
}

// marshalsPlain reports whether json.Marshal writes s as it is, between
// quotes: the strings the hand-written readers are meant to take.
func marshalsPlain(s string) bool {
	b, err := json.Marshal(s)
	return err == nil && string(b) == `"`+s+`"`
}

// checkClaimsReader requires that the hand-written reader, when it takes
// payload, agrees with json.Unmarshal + isCanonical on the claims.
func checkClaimsReader(t *testing.T, payload []byte) bool {
	t.Helper()
	var fast, slow Claims
	if !canonicalClaims(payload, &fast) {
		return false
	}
	if json.Unmarshal(payload, &slow) != nil || !isCanonical(&slow, payload) || fast != slow {
		t.Fatalf("%q: read by hand as %+v, by encoding/json as %+v", payload, fast, slow)
	}
	return true
}

// checkContentReader is checkClaimsReader for content.
func checkContentReader(t *testing.T, plain []byte) bool {
	t.Helper()
	var fast, slow Content
	if !canonicalContent(plain, &fast) {
		return false
	}
	if json.Unmarshal(plain, &slow) != nil || !isCanonical(slow, plain) || fast != slow {
		t.Fatalf("%q: read by hand as %+v, by encoding/json as %+v", plain, fast, slow)
	}
	return true
}

// The claims reader takes exactly the canonical payloads with plain
// strings, gives what encoding/json gives, and leaves the rest to it;
// decodeClaims accepts what json.Unmarshal + isCanonical accepted before.
func TestClaimsReaderTakesOnlyWhatMarshalWrites(t *testing.T) {
	for _, c := range claimsPayloads {
		if got := checkClaimsReader(t, []byte(c.payload)); got != c.canonical {
			t.Errorf("%s: read by hand = %v, want %v", c.payload, got, c.canonical)
		}
		var before, after Claims
		old := json.Unmarshal([]byte(c.payload), &before) == nil && isCanonical(&before, []byte(c.payload))
		if now := decodeClaims([]byte(c.payload), &after); now != old || (old && after != before) {
			t.Errorf("%s: decodeClaims = %v %+v, before %v %+v", c.payload, now, after, old, before)
		}
	}
}

// The content reader, likewise.
func TestContentReaderTakesOnlyWhatMarshalWrites(t *testing.T) {
	for _, c := range contentPayloads {
		if got := checkContentReader(t, []byte(c.payload)); got != c.canonical {
			t.Errorf("%s: read by hand = %v, want %v", c.payload, got, c.canonical)
		}
		var before, after Content
		old := json.Unmarshal([]byte(c.payload), &before) == nil && isCanonical(before, []byte(c.payload))
		if now := decodeContent([]byte(c.payload), &after); now != old || (old && after != before) {
			t.Errorf("%s: decodeContent = %v %+v, before %v %+v", c.payload, now, after, old, before)
		}
	}
}

// A code as Issue writes it is read by hand, claims and content.
func TestIssuedCodeTakesTheFastPath(t *testing.T) {
	f := newTestFederation(t, testNow)
	code, cl := f.GD.good(t, testNow)
	c, err := parseCompact(strings.TrimPrefix(code, CodePrefix), TypCode, MaxCodeLen)
	if err != nil {
		t.Fatal(err)
	}
	var fast Claims
	if !canonicalClaims(c.payload, &fast) || fast != cl {
		t.Fatalf("issued claims not read by hand: %+v, want %+v", fast, cl)
	}
	plain, err := json.Marshal(greenContent)
	if err != nil {
		t.Fatal(err)
	}
	var content Content
	if !canonicalContent(plain, &content) || content != greenContent {
		t.Fatalf("issued content not read by hand: %+v", content)
	}
}

func FuzzClaimsFastPath(f *testing.F) {
	for _, c := range claimsPayloads {
		f.Add([]byte(c.payload), "440000", "AAAAAAAAAAAAAAAAAAAAAA", int64(1740816000), int64(1740902400), 1, "a..b.c.d")
	}
	f.Add([]byte(nil), "广东<", "x\u2028", int64(math.MinInt64), int64(math.MaxInt64), -1, "\x00\"\\")
	f.Fuzz(func(t *testing.T, raw []byte, iss, jti string, iat, exp int64, v int, ct string) {
		checkClaimsReader(t, raw)
		cl := Claims{Issuer: iss, JTI: jti, IssuedAt: iat, Expires: exp, Version: v, CT: ct}
		b, err := json.Marshal(cl)
		if err != nil {
			t.Fatal(err)
		}
		plain := marshalsPlain(iss) && marshalsPlain(jti) && marshalsPlain(ct)
		if got := checkClaimsReader(t, b); got != plain {
			t.Fatalf("%s: read by hand = %v, strings plain = %v", b, got, plain)
		}
	})
}

func FuzzContentFastPath(f *testing.F) {
	for _, c := range contentPayloads {
		f.Add([]byte(c.payload), "green", "张*", "****1234")
	}
	f.Add([]byte(nil), "red\u2029", "<b>", "\xff")
	f.Fuzz(func(t *testing.T, raw []byte, st, dn, doc string) {
		checkContentReader(t, raw)
		b, err := json.Marshal(Content{Status: Status(st), Name: dn, Doc: doc})
		if err != nil {
			t.Fatal(err)
		}
		plain := marshalsPlain(st) && marshalsPlain(dn) && marshalsPlain(doc)
		if got := checkContentReader(t, b); got != plain {
			t.Fatalf("%s: read by hand = %v, strings plain = %v", b, got, plain)
		}
	})
}
