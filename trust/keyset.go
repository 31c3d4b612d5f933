package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// KeysetEntry is one signing key in a keyset statement.
type KeysetEntry struct {
	State     KeyState        `json:"state"`
	NotBefore int64           `json:"nbf"`
	RetiredAt int64           `json:"retired_at,omitempty"`
	Expires   int64           `json:"exp"`
	JWK       json.RawMessage `json:"jwk"`
}

// Keyset is a province's signed list of its signing keys and its node's
// encryption key. The province root key signs it (typ hcfed-keyset+jwt).
type Keyset struct {
	Issuer   string          `json:"iss"`
	Version  uint64          `json:"version"`
	IssuedAt int64           `json:"iat"`
	Expires  int64           `json:"exp"`
	Keys     []KeysetEntry   `json:"keys"`
	Enc      json.RawMessage `json:"enc"` // ECDH-ES P-256 public key for content-key grants
}

// KeysetEntryFor describes k for a keyset statement.
func KeysetEntryFor(k *Key) (KeysetEntry, error) {
	jwk, err := PublicJWK(k.Public, "sig")
	if err != nil {
		return KeysetEntry{}, err
	}
	raw, err := json.Marshal(jwk)
	if err != nil {
		return KeysetEntry{}, err
	}
	e := KeysetEntry{State: k.State, NotBefore: k.NotBefore.Unix(), Expires: k.Expires.Unix(), JWK: raw}
	if !k.RetiredAt.IsZero() {
		e.RetiredAt = k.RetiredAt.Unix()
	}
	return e, nil
}

// EncJWK encodes a node's encryption public key for a keyset.
func EncJWK(pub *ecdsa.PublicKey) (json.RawMessage, error) {
	jwk, err := PublicJWK(pub, "enc")
	if err != nil {
		return nil, err
	}
	return json.Marshal(jwk)
}

// VerifiedKeyset is a keyset whose signature and contents were checked.
type VerifiedKeyset struct {
	Keyset
	Raw     string          // the statement as received, for caching and relaying
	Signing map[string]*Key // by kid
	EncKey  *ecdsa.PublicKey
	EncKID  string

	signedBy string // root kid that signed it, set when applied to a State
}

// ParseKeyset verifies a keyset statement with the province's root key.
// It checks signature, typ, issuer and contents; whether it may replace a
// keyset already held is AcceptKeyset's question.
func ParseKeyset(raw string, province string, root *ecdsa.PublicKey) (*VerifiedKeyset, error) {
	c, err := parseCompact(raw, TypKeyset, MaxStatementLen)
	if err != nil {
		return nil, err
	}
	rootKID, err := Thumbprint(root)
	if err != nil {
		return nil, err
	}
	if c.header.Kid != rootKID {
		return nil, fail(ReasonWrongSigner, "keyset not signed by the province root key")
	}
	payload, err := c.verify(root)
	if err != nil {
		return nil, err
	}
	var ks Keyset
	if err := decodeStrict(payload, &ks); err != nil {
		return nil, err
	}
	if ks.Issuer != province {
		return nil, fail(ReasonWrongSigner, fmt.Sprintf("keyset of %q signed by the root of %q", ks.Issuer, province))
	}
	v := &VerifiedKeyset{Keyset: ks, Raw: raw, Signing: map[string]*Key{}}
	for _, e := range ks.Keys {
		if !e.State.Valid() {
			return nil, fail(ReasonMalformed, fmt.Sprintf("key state %q", e.State))
		}
		pub, kid, err := ParsePublicJWK(e.JWK)
		if err != nil {
			return nil, err
		}
		k := &Key{ID: kid, State: e.State, NotBefore: time.Unix(e.NotBefore, 0), Expires: time.Unix(e.Expires, 0), Public: pub}
		if e.RetiredAt != 0 {
			k.RetiredAt = time.Unix(e.RetiredAt, 0)
		}
		if k.State == KeyRetired && k.RetiredAt.IsZero() {
			return nil, fail(ReasonMalformed, "retired key without retired_at")
		}
		if _, dup := v.Signing[kid]; dup {
			// Two states for one key: which the root meant is unknowable.
			return nil, fail(ReasonMalformed, "key listed twice: "+kid)
		}
		v.Signing[kid] = k
	}
	if len(ks.Enc) > 0 {
		pub, kid, err := ParsePublicJWK(ks.Enc)
		if err != nil {
			return nil, err
		}
		v.EncKey, v.EncKID = pub, kid
	}
	return v, nil
}

// AcceptKeyset decides whether next may replace held (nil if none): it must
// be newer (no rollback or replay) and unexpired (no freeze).
func AcceptKeyset(held, next *VerifiedKeyset, now time.Time) error {
	if now.After(time.Unix(next.Expires, 0)) {
		return fail(ReasonExpired, fmt.Sprintf("keyset %s v%d expired", next.Issuer, next.Version))
	}
	if held != nil && next.Version <= held.Version {
		return fail(ReasonRollback, fmt.Sprintf("keyset %s v%d, holding v%d", next.Issuer, next.Version, held.Version))
	}
	return nil
}

// SignKeyset signs ks with the province root key.
func SignKeyset(root *ecdsa.PrivateKey, ks Keyset) (string, error) {
	s, err := NewStatementSigner(root)
	if err != nil {
		return "", err
	}
	return s.Sign(TypKeyset, ks)
}

// JWKS returns the public signing keys of a keyset as a JWK Set, for
// /.well-known/jwks.json: next, active and retired keys, not compromised.
func (v *VerifiedKeyset) JWKS() jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, e := range v.Keys {
		if e.State == KeyCompromised {
			continue
		}
		var jwk jose.JSONWebKey
		if json.Unmarshal(e.JWK, &jwk) == nil {
			set.Keys = append(set.Keys, jwk)
		}
	}
	return set
}
