package trust

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	payload []byte // not yet trusted
	jws     *jose.JSONWebSignature
}

// parseCompact checks size, shape and header of a compact JWS of the given
// typ. It counts the dots before splitting anything (the go-jose
// CVE-2025-27144 shape: a token of many dots made older parsers allocate
// without bound) and decodes the header strictly.
func parseCompact(s, typ string, maxLen int) (*compact, error) {
	if len(s) > maxLen {
		return nil, fail(ReasonOversized, fmt.Sprintf("%d bytes, limit %d", len(s), maxLen))
	}
	if strings.Count(s, ".") != 2 {
		return nil, fail(ReasonMalformed, "not a compact JWS")
	}
	h64, rest, _ := strings.Cut(s, ".")
	p64, _, _ := strings.Cut(rest, ".")
	h, err := decodeHeader(h64, typ)
	if err != nil {
		return nil, err
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return nil, fail(ReasonMalformed, "payload encoding")
	}
	jws, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fail(ReasonMalformed, "jws: "+err.Error())
	}
	return &compact{header: h, payload: payload, jws: jws}, nil
}

// decodeHeader decodes a base64url protected header strictly: exactly the
// fields of header, alg ES256, the expected typ, a kid.
func decodeHeader(h64, typ string) (header, error) {
	var h header
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return h, fail(ReasonMalformed, "header encoding")
	}
	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		// Unknown fields (jwk, jku, x5u, crit...) land here.
		return h, fail(ReasonBadHeader, "header: "+err.Error())
	}
	if dec.More() {
		return h, fail(ReasonBadHeader, "trailing data in header")
	}
	// encoding/json matches field names case-insensitively and keeps the
	// last of duplicate keys; requiring the canonical encoding closes both
	// doors, so this check and go-jose can never read different headers.
	if canon, _ := json.Marshal(h); !bytes.Equal(canon, hb) {
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

// verify checks the signature with pub and returns the verified payload.
func (c *compact) verify(pub *ecdsa.PublicKey) ([]byte, error) {
	payload, err := c.jws.Verify(pub)
	if err != nil {
		return nil, fail(ReasonBadSignature, "")
	}
	return payload, nil
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
	for _, typ := range []string{TypCode, TypKeyset, TypRevocation, TypContentKey, TypHeartbeat, TypSnapshot} {
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
