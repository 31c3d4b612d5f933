package testkit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// ReadableParts returns what anyone can read of part, the decoded JSON
// of a compact JWS or JWE's protected header or claims, for a test to
// search for what must not be there in clear: part with the values of
// the base64url fields named in encoded cut out, then each of those
// values decoded, dot-separated segment by segment (a nested JWE's
// header decodes to readable JSON). The base64url text of random bytes
// (a key thumbprint, a code id, a ciphertext) is not searched: it spells
// a short word by chance, "red" in about one code in 1,800 (64^-3 per
// position of some 150 characters); their 120 or so decoded random
// bytes hold three given bytes in about one code in 140,000 (2^-24 per
// position), four in one in 35 million.
func ReadableParts(part []byte, encoded ...string) ([][]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(part, &fields); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	rest := part
	var decoded [][]byte
	for _, name := range encoded {
		raw, ok := fields[name]
		if !ok {
			return nil, fmt.Errorf("no field %q in %s", name, part)
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, fmt.Errorf("field %q is not a string: %w", name, err)
		}
		for _, seg := range strings.Split(text, ".") {
			b, err := base64.RawURLEncoding.DecodeString(seg)
			if err != nil {
				return nil, fmt.Errorf("field %q is not base64url: %w", name, err)
			}
			decoded = append(decoded, b)
		}
		if !bytes.Contains(rest, raw) {
			return nil, fmt.Errorf("field %q's value %s is not in %s as it decodes", name, raw, part)
		}
		rest = bytes.Replace(rest, raw, []byte(`""`), 1)
	}
	return append([][]byte{rest}, decoded...), nil
}

// CodeKID is the kid of a health code's protected header ("HCF1:" and a
// compact JWS): the signing key that signed it.
func CodeKID(t testing.TB, code string) string {
	t.Helper()
	var h struct{ Kid string }
	decodeSegment(t, strings.Split(strings.TrimPrefix(code, "HCF1:"), ".")[0], &h)
	if h.Kid == "" {
		t.Fatalf("the header of code %.20s... names no kid", code)
	}
	return h.Kid
}

// CodeContentKey is the kid of the header of a code's ct claim: the
// content key its contents are encrypted under.
func CodeContentKey(t testing.TB, code string) string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(code, "HCF1:"), ".")
	if len(parts) != 3 {
		t.Fatalf("code %.20s... is not a compact JWS", code)
	}
	var claims struct{ CT string }
	decodeSegment(t, parts[1], &claims)
	var h struct{ Kid string }
	decodeSegment(t, strings.Split(claims.CT, ".")[0], &h)
	return h.Kid
}

// decodeSegment decodes a base64url segment of JSON into v.
func decodeSegment(t testing.TB, seg string, v any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		t.Fatalf("segment %.20s...: %v", seg, err)
	}
}
