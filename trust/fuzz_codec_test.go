package trust

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The codec's promise, fuzzed as age's FuzzMalleability does: whatever it
// accepts, it writes back byte for byte. A header, a compact statement or
// a content header that parses has exactly one encoding — the one the
// writer produces — so no second spelling of a signed statement exists
// for a cache, a replay check or a second parser to disagree about (short
// of ECDSA's own (r, n-s), which HCFed never keys anything on).
// Seeds: testdata/fuzz/<FuzzName>/, regenerated with the statement vectors.

// FuzzHeaderMalleability: a protected header that parses re-marshals to
// exactly its bytes, is what encoding/json writes for the same fields, and
// a JWS header that passes decodeHeader is exactly what encodeHeader
// writes for its kid and typ.
func FuzzHeaderMalleability(f *testing.F) {
	f.Add([]byte(codeHeader("k")))
	f.Add([]byte(codeHeader("k") + "\n")) // near misses: the one byte a lax reader would skip
	f.Add([]byte(" " + codeHeader("k")))
	f.Add([]byte(`{"alg":"ES256","kid":"k\u0041","typ":"hcfed-code+jwt"}`))
	f.Add([]byte(`{"alg":"dir","enc":"A256GCM","kid":"440000/2025-03-01"}`))
	f.Fuzz(func(t *testing.T, hb []byte) {
		for _, names := range [][]string{jwsHeaderNames, contentHeaderNames} {
			v, ok := unmarshalFields(hb, names)
			if !ok {
				continue
			}
			again, err := marshalFields(names, v)
			if err != nil || !bytes.Equal(again, hb) {
				t.Fatalf("header %q re-marshals as %q (%v)", hb, again, err)
			}
			m := map[string]string{}
			for i, n := range names {
				m[n] = v[i]
			}
			if viaJSON, _ := json.Marshal(m); !bytes.Equal(viaJSON, hb) { // map keys sort: alg, enc|kid, kid|typ
				t.Fatalf("header %q: encoding/json writes %q", hb, viaJSON)
			}
		}
		for _, typ := range append([]string{TypTrustList}, statementTypes...) {
			h, err := decodeHeader(b64(hb), typ)
			if err != nil {
				continue
			}
			h64, err := encodeHeader(h.Kid, h.Typ)
			if err != nil || h64 != b64(hb) {
				t.Fatalf("accepted header %q, writer makes %q (%v)", hb, mustB64Decode(h64), err)
			}
		}
	})
}

// FuzzCompactMalleability: a compact JWS that parseCompact accepts, as any
// typ, serializes back to exactly its input, and its header is the one a
// StatementSigner writes for that typ.
func FuzzCompactMalleability(f *testing.F) {
	f.Add("e30.e30.AAAA")
	f.Add(b64([]byte(codeHeader("k"))) + ".e30." + b64(make([]byte, es256SigLen))[:85] + "B") // non-zero trailing bits
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range append([]string{TypTrustList}, statementTypes...) {
			c, err := parseCompact(s, typ, MaxStatementLen)
			if err != nil {
				continue
			}
			if again := c.serialize(); again != s {
				t.Fatalf("accepted %q, serializes as %q", s, again)
			}
			h64, err := encodeHeader(c.header.Kid, typ)
			if err != nil || c.input[:len(h64)] != h64 || c.input[len(h64)] != '.' {
				t.Fatalf("accepted %q, whose header is not what the writer makes (%v)", s, err)
			}
			if b64(c.payload) != c.input[len(h64)+1:] {
				t.Fatalf("accepted %q, whose payload re-encodes differently", s)
			}
		}
	})
}

func mustB64Decode(s string) []byte {
	b, _ := b64Decode(s)
	return b
}
