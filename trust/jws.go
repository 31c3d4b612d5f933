package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The JOSE codec. HCFed writes and reads its compact JWS (codes and every
// statement), the signatures of the trust list's JWS JSON document and
// the dir/A256GCM JWE of a code's content with this one codec, so the
// bytes a node accepts are exactly the bytes a node writes. go-jose is
// kept for what it is needed for: JWK (un)marshalling and thumbprints, and
// the ECDH-ES key agreement of sealed statements and content-key grants.
//
// A protected header is a JSON object of fixed members in a fixed order,
// each a string of "plain" characters (see isPlainValue), with no
// whitespace: {"alg":"ES256","kid":"...","typ":"..."}. Such a header has
// no escapes, so it has exactly one spelling, which is also the one
// encoding/json writes for it.

// jwsHeaderNames are the members of a JWS protected header, in order.
var jwsHeaderNames = []string{"alg", "kid", "typ"}

// header is the only protected header HCFed writes or accepts on a JWS.
// Anything else — jwk, jku, x5u, x5c, crit, b64 — is refused before a key
// is looked up, so no header can steer verification.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// algES256 is the one JWS algorithm: ECDSA P-256 with SHA-256 (RFC 7518
// section 3.4).
const algES256 = "ES256"

// maxKidLen bounds a key id; a thumbprint is 43 characters.
const maxKidLen = 128

// es256SigLen is the size of an ES256 signature: r and s, 32 bytes each.
const es256SigLen = 64

// b64url is the encoding of every JOSE part: unpadded base64url, strict
// (no non-zero trailing bits), so each value has one encoding.
var b64url = base64.RawURLEncoding.Strict()

// isPlainValue reports whether s may be a header value: printable ASCII
// that JSON writes as is — no quote, backslash or control character, and
// none of the characters encoding/json escapes as HTML (<, >, &).
func isPlainValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// isKid reports whether s can be a key id: 1 to maxKidLen characters of
// the base64url alphabet, as a thumbprint is.
func isKid(s string) bool {
	if s == "" || len(s) > maxKidLen {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// marshalFields writes the canonical header with the given members and
// values, in order. Every value must be plain.
func marshalFields(names, values []string) ([]byte, error) {
	b := make([]byte, 0, 64)
	for i, n := range names {
		if !isPlainValue(values[i]) {
			return nil, fmt.Errorf("header %s %q: not a plain value", n, values[i])
		}
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, n...)
		b = append(b, `":"`...)
		b = append(b, values[i]...)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// unmarshalFields reads a header written by marshalFields with the same
// names, and nothing else: any other member, order, spacing, escape or
// trailing byte is refused. Its result re-marshals to exactly b.
func unmarshalFields(b []byte, names []string) ([]string, bool) {
	values := make([]string, len(names))
	return values, unmarshalFieldsInto(b, names, values)
}

// unmarshalFieldsInto is unmarshalFields into values, len(names) long.
func unmarshalFieldsInto(b []byte, names, values []string) bool {
	s := string(b)
	for i, n := range names {
		sep := `,"`
		if i == 0 {
			sep = `{"`
		}
		rest, ok := strings.CutPrefix(s, sep+n+`":"`)
		if !ok {
			return false
		}
		v, rest, ok := strings.Cut(rest, `"`)
		if !ok || !isPlainValue(v) {
			return false
		}
		values[i], s = v, rest
	}
	return s == "}"
}

// marshal writes h in canonical form.
func (h header) marshal() ([]byte, error) {
	return marshalFields(jwsHeaderNames, []string{h.Alg, h.Kid, h.Typ})
}

// encodeHeader returns the base64url canonical ES256 header of typ by kid.
func encodeHeader(kid, typ string) (string, error) {
	if !isKid(kid) {
		return "", fmt.Errorf("header: kid %q is not a key id", kid)
	}
	hb, err := header{Alg: algES256, Kid: kid, Typ: typ}.marshal()
	if err != nil {
		return "", err
	}
	return b64url.EncodeToString(hb), nil
}

// decodeHeader decodes a base64url protected header strictly: exactly the
// canonical bytes of {alg, kid, typ}, alg ES256, the expected typ, a kid.
func decodeHeader(h64, typ string) (header, error) {
	hb, err := b64url.DecodeString(h64)
	if err != nil {
		return header{}, fail(ReasonMalformed, "header encoding")
	}
	var v [3]string // jwsHeaderNames
	if !unmarshalFieldsInto(hb, jwsHeaderNames, v[:]) {
		// Refuses every member but alg, kid and typ (jwk, jku, x5u, x5c,
		// crit, b64...), reordering, whitespace, escapes, duplicates and
		// case variants: no two parsers can read different headers from
		// bytes that pass.
		return header{}, fail(ReasonBadHeader, "header is not in canonical form")
	}
	h := header{Alg: v[0], Kid: v[1], Typ: v[2]}
	if h.Alg != algES256 {
		return h, fail(ReasonBadAlgorithm, fmt.Sprintf("alg %q", h.Alg))
	}
	if h.Typ != typ {
		return h, fail(ReasonWrongType, fmt.Sprintf("typ %q, want %q", h.Typ, typ))
	}
	if !isKid(h.Kid) {
		return h, fail(ReasonBadHeader, "kid missing, too long or not base64url")
	}
	return h, nil
}

// compact is a compact JWS split and checked, with the signature not yet
// verified.
type compact struct {
	header  header
	input   string // BASE64URL(header) "." BASE64URL(payload): what was signed
	payload []byte // not yet trusted
	sig     []byte // r || s, 32 bytes each: sigBuf[:] when parsed
	sigBuf  [es256SigLen]byte
}

// parseCompact checks size, shape and header of a compact JWS of the given
// typ. It counts the dots before splitting anything (the go-jose
// CVE-2025-27144 shape: a token of many dots made older parsers allocate
// without bound) and decodes every part strictly, so each statement has
// one encoding (short of ECDSA's own (r, n-s) malleability): a parsed
// statement serializes back to exactly its input.
//
// The header has been held to exactly {alg: ES256, kid, typ}, so none of
// JWS's optional machinery (b64, crit, embedded keys) can apply, and the
// signature is checked directly over the signing input.
func parseCompact(s, typ string, maxLen int) (*compact, error) {
	if len(s) > maxLen {
		return nil, fail(ReasonOversized, fmt.Sprintf("%d bytes, limit %d", len(s), maxLen))
	}
	if strings.Count(s, ".") != 2 {
		return nil, fail(ReasonMalformed, "not a compact JWS")
	}
	// encoding/base64 skips CR and LF even in strict mode; refused here,
	// they would give one statement many spellings.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fail(ReasonMalformed, "line break in compact JWS")
	}
	h64, rest, _ := strings.Cut(s, ".")
	p64, sig64, _ := strings.Cut(rest, ".")
	h, err := decodeHeader(h64, typ)
	if err != nil {
		return nil, err
	}
	payload, err := b64url.DecodeString(p64)
	if err != nil {
		return nil, fail(ReasonMalformed, "payload encoding")
	}
	c := &compact{header: h, input: s[:len(h64)+1+len(p64)], payload: payload}
	// As decodeSignature, into c: with no line break, a part that decodes
	// at all decodes to exactly DecodedLen bytes.
	if b64url.DecodedLen(len(sig64)) != es256SigLen {
		return nil, fail(ReasonMalformed, "signature encoding")
	}
	if _, err := b64url.Decode(c.sigBuf[:], []byte(sig64)); err != nil {
		return nil, fail(ReasonMalformed, "signature encoding")
	}
	c.sig = c.sigBuf[:]
	return c, nil
}

// decodeSignature decodes an ES256 signature part: 64 bytes, strictly.
func decodeSignature(sig64 string) ([]byte, error) {
	sig, err := b64url.DecodeString(sig64)
	if err != nil || len(sig) != es256SigLen {
		return nil, fail(ReasonMalformed, "signature encoding")
	}
	return sig, nil
}

// serialize writes c back as a compact JWS.
func (c *compact) serialize() string {
	return c.input + "." + b64url.EncodeToString(c.sig)
}

// verify checks the ES256 signature with pub and returns the verified
// payload.
func (c *compact) verify(pub *ecdsa.PublicKey) ([]byte, error) {
	if !verifyES256(pub, c.input, c.sig) {
		return nil, fail(ReasonBadSignature, "")
	}
	return c.payload, nil
}

// signCompact signs payload as a compact JWS of typ with key, whose key id
// is kid.
func signCompact(key *ecdsa.PrivateKey, kid, typ string, payload []byte) (string, error) {
	h64, err := encodeHeader(kid, typ)
	if err != nil {
		return "", err
	}
	return signWithHeader(key, h64, b64url.EncodeToString(payload))
}

// signWithHeader signs h64 "." p64, already encoded, and returns the
// compact JWS.
func signWithHeader(key *ecdsa.PrivateKey, h64, p64 string) (string, error) {
	input := h64 + "." + p64
	sig, err := signES256(key, input)
	if err != nil {
		return "", err
	}
	return input + "." + b64url.EncodeToString(sig), nil
}

// signES256 signs input with key (RFC 7518 section 3.4): the standard
// library's ASN.1 signature, re-encoded as r || s, 32 bytes each.
func signES256(key *ecdsa.PrivateKey, input string) ([]byte, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("sign: not a P-256 key")
	}
	digest := sha256.Sum256([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 ||
		rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, fmt.Errorf("sign: unexpected signature encoding")
	}
	sig := make([]byte, es256SigLen)
	rs.R.FillBytes(sig[:es256SigLen/2])
	rs.S.FillBytes(sig[es256SigLen/2:])
	return sig, nil
}

// verifyES256 checks an r || s signature over input with pub. It does
// what ecdsa.Verify does with r and s as big.Ints — refuse a zero r or s,
// DER-encode, ecdsa.VerifyASN1 — without the big.Ints and the general
// ASN.1 builder, which cost a few µs a code.
func verifyES256(pub *ecdsa.PublicKey, input string, sig []byte) bool {
	if pub == nil || pub.Curve != elliptic.P256() || len(sig) != es256SigLen {
		return false
	}
	var der [es256MaxDERLen]byte
	n, ok := es256DER(der[:], sig)
	if !ok {
		return false
	}
	digest := sha256.Sum256([]byte(input))
	return ecdsa.VerifyASN1(pub, digest[:], der[:n])
}

// es256MaxDERLen bounds the DER form of an ES256 signature: a SEQUENCE of
// two INTEGERs of up to 33 bytes (32 and a leading zero), short lengths.
const es256MaxDERLen = 2 + 2*(2+es256SigLen/2+1)

// es256DER writes r || s as the DER SEQUENCE { INTEGER r, INTEGER s } into
// dst (es256MaxDERLen bytes) with cryptobyte, as crypto/ecdsa encodes a
// signature, and returns its length; false if r or s is zero, which no
// valid signature has.
func es256DER(dst, sig []byte) (int, bool) {
	b := cryptobyte.NewFixedBuilder(dst[:0])
	ok := true
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, v := range [][]byte{sig[:es256SigLen/2], sig[es256SigLen/2:]} {
			v = bytes.TrimLeft(v, "\x00")
			if len(v) == 0 {
				ok = false
				return
			}
			b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) {
				if v[0]&0x80 != 0 {
					b.AddUint8(0) // a leading zero keeps the integer positive
				}
				b.AddBytes(v)
			})
		}
	})
	der, err := b.Bytes()
	if !ok || err != nil {
		return 0, false
	}
	return len(der), true
}
