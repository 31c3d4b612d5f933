package trust

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
)

// isCanonical reports whether b is exactly the JSON encoding/json writes
// for v: the one encoding HCFed signs, so the one it accepts where an
// encoding must be unique.
func isCanonical(v any, b []byte) bool {
	canon, err := json.Marshal(v)
	return err == nil && bytes.Equal(canon, b)
}

// decodeStrict unmarshals a verified payload, refusing unknown fields,
// keys that match a field only case-insensitively ("ISS" for "iss") and
// keys given twice in one object (anywhere, JWKs included) and anything
// after the value (DecodeJSON), so that a statement means exactly what
// its type says — to this decoder and to any other reader (jq, a verifier
// that keeps the first duplicate) alike.
func decodeStrict(b []byte, v any) error {
	if err := DecodeJSON(b, v); err != nil {
		return fail(ReasonMalformed, "payload: "+err.Error())
	}
	return nil
}

// statementTypes are the typs a StatementSigner signs: every compact
// statement. A trust list is signed by operators with SignTrustList.
var statementTypes = []string{TypCode, TypKeyset, TypRevocation, TypContentKey, TypHeartbeat, TypSnapshot,
	TypLookup, TypLookupAnswer, TypReceipt, TypErasure}

// StatementSigner signs compact statements with one ES256 key. It is safe
// for concurrent use.
type StatementSigner struct {
	kid     string
	headers map[string]string // typ → encoded protected header
	key     *ecdsa.PrivateKey
}

// NewStatementSigner prepares a signer for key; its key id is the key's
// thumbprint.
func NewStatementSigner(key *ecdsa.PrivateKey) (*StatementSigner, error) {
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	s := &StatementSigner{kid: kid, key: key, headers: map[string]string{}}
	for _, typ := range statementTypes {
		if s.headers[typ], err = encodeHeader(kid, typ); err != nil {
			return nil, fmt.Errorf("signer: %w", err)
		}
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
	h64, ok := s.headers[typ]
	if !ok {
		return "", fmt.Errorf("sign: unknown statement type %q", typ)
	}
	jws, err := signWithHeader(s.key, h64, b64url.EncodeToString(b))
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	return jws, nil
}
