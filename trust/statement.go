package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// header is the only protected header HCFed writes or accepts on a compact
// statement. Anything else — jwk, jku, x5u, x5c, crit, b64 — is refused
// before a key is looked up, so no header can steer verification.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// compact is a compact JWS split and checked, with the signature not yet
// verified.
type compact struct {
	header  header
	input   string // BASE64URL(header) "." BASE64URL(payload): what was signed
	payload []byte // not yet trusted
	sig     []byte // r || s, 32 bytes each
}

// es256SigLen is the size of an ES256 signature: r and s, 32 bytes each.
const es256SigLen = 64

// parseCompact checks size, shape and header of a compact JWS of the given
// typ. It counts the dots before splitting anything (the go-jose
// CVE-2025-27144 shape: a token of many dots made older parsers allocate
// without bound) and decodes every part strictly, so each statement has
// one encoding (short of ECDSA's own (r, n-s) malleability).
//
// The header has already been held to exactly {alg: ES256, kid, typ}, so
// none of JWS's optional machinery (b64, crit, embedded keys) can apply,
// and the signature is checked directly over the signing input rather
// than by a second, general-purpose JWS parser that could read the token
// differently.
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
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return nil, fail(ReasonMalformed, "payload encoding")
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sig64)
	if err != nil || len(sig) != es256SigLen {
		return nil, fail(ReasonMalformed, "signature encoding")
	}
	return &compact{header: h, input: s[:len(h64)+1+len(p64)], payload: payload, sig: sig}, nil
}

// decodeHeader decodes a base64url protected header strictly: exactly the
// fields of header, alg ES256, the expected typ, a kid.
func decodeHeader(h64, typ string) (header, error) {
	var h header
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return h, fail(ReasonMalformed, "header encoding")
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, fail(ReasonBadHeader, "header: "+err.Error())
	}
	// Requiring the canonical encoding refuses every field but alg, kid
	// and typ (jwk, jku, x5u, x5c, crit, b64...), trailing data, and the
	// two ways encoding/json is lenient — case-insensitive names and the
	// last of duplicate keys — so no two parsers can read different
	// headers from the same bytes.
	if !isCanonical(h, hb) {
		return h, fail(ReasonBadHeader, "header is not in canonical form")
	}
	if h.Alg != string(jose.ES256) {
		return h, fail(ReasonBadAlgorithm, fmt.Sprintf("alg %q", h.Alg))
	}
	if h.Typ != typ {
		return h, fail(ReasonWrongType, fmt.Sprintf("typ %q, want %q", h.Typ, typ))
	}
	if h.Kid == "" || len(h.Kid) > 128 {
		return h, fail(ReasonBadHeader, "kid missing or too long")
	}
	return h, nil
}

// verify checks the ES256 signature with pub (RFC 7518 section 3.4) and
// returns the verified payload.
func (c *compact) verify(pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, fail(ReasonBadSignature, "not a P-256 key")
	}
	digest := sha256.Sum256([]byte(c.input))
	r := new(big.Int).SetBytes(c.sig[:es256SigLen/2])
	s := new(big.Int).SetBytes(c.sig[es256SigLen/2:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, fail(ReasonBadSignature, "")
	}
	return c.payload, nil
}

// isCanonical reports whether b is exactly the JSON encoding/json writes
// for v: the one encoding HCFed signs, so the one it accepts where an
// encoding must be unique.
func isCanonical(v any, b []byte) bool {
	canon, err := json.Marshal(v)
	return err == nil && bytes.Equal(canon, b)
}

// decodeStrict unmarshals a verified payload, refusing unknown fields so
// that a statement means exactly what its type says.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(ReasonMalformed, "payload: "+err.Error())
	}
	if dec.More() {
		return fail(ReasonMalformed, "payload: trailing data")
	}
	return nil
}

// StatementSigner signs compact statements with one ES256 key. It is safe
// for concurrent use.
type StatementSigner struct {
	kid     string
	signers map[string]jose.Signer // by typ
	key     *ecdsa.PrivateKey
}

// NewStatementSigner prepares a signer for key; its key id is the key's
// thumbprint.
func NewStatementSigner(key *ecdsa.PrivateKey) (*StatementSigner, error) {
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	s := &StatementSigner{kid: kid, key: key, signers: map[string]jose.Signer{}}
	for _, typ := range []string{TypCode, TypKeyset, TypRevocation, TypContentKey, TypHeartbeat, TypSnapshot,
		TypLookup, TypLookupAnswer, TypReceipt} {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
		if err != nil {
			return nil, fmt.Errorf("signer: %w", err)
		}
		s.signers[typ] = sg
	}
	return s, nil
}

// KeyID is the thumbprint of the signing key.
func (s *StatementSigner) KeyID() string { return s.kid }

// Public returns the public half of the signing key.
func (s *StatementSigner) Public() *ecdsa.PublicKey { return &s.key.PublicKey }

// Sign marshals payload to JSON and signs it as a compact JWS of typ.
func (s *StatementSigner) Sign(typ string, payload any) (string, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("marshal %s: %w", typ, err)
	}
	return s.SignBytes(typ, b)
}

// SignBytes signs already-marshalled payload bytes as a compact JWS of typ.
func (s *StatementSigner) SignBytes(typ string, b []byte) (string, error) {
	sg, ok := s.signers[typ]
	if !ok {
		return "", fmt.Errorf("sign: unknown statement type %q", typ)
	}
	obj, err := sg.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	return obj.CompactSerialize()
}
