package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// KeyState is where a signing key is in its life.
type KeyState string

// Key states. A key is published as next a day before it signs, so every
// peer knows it before the first code it signs reaches a scanner.
const (
	KeyNext        KeyState = "next"        // published ahead, not yet signing
	KeyActive      KeyState = "active"      // signing
	KeyRetired     KeyState = "retired"     // no longer signing; verifies what it signed until Expires
	KeyCompromised KeyState = "compromised" // every code it signed is rejected
)

// Valid reports whether s is one of the defined states.
func (s KeyState) Valid() bool {
	switch s {
	case KeyNext, KeyActive, KeyRetired, KeyCompromised:
		return true
	}
	return false
}

// GenerateKey makes a new P-256 key from r (crypto/rand.Reader if nil).
func GenerateKey(r io.Reader) (*ecdsa.PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	return ecdsa.GenerateKey(elliptic.P256(), r)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// without padding: HCFed's key id for every key.
func Thumbprint(pub *ecdsa.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// PublicJWK returns pub as a JWK with its thumbprint as key id.
func PublicJWK(pub *ecdsa.PublicKey, use string) (jose.JSONWebKey, error) {
	kid, err := Thumbprint(pub)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	alg := string(jose.ES256)
	if use == "enc" {
		alg = string(jose.ECDH_ES_A256KW)
	}
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: use}, nil
}

// ParsePublicJWK reads a JWK that must be a P-256 public key whose key id,
// if present, equals its thumbprint. It refuses private keys and any other
// curve or key type, so a keyset cannot smuggle in an HMAC or RSA key.
func ParsePublicJWK(raw json.RawMessage) (*ecdsa.PublicKey, string, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return nil, "", fail(ReasonMalformed, "jwk: "+err.Error())
	}
	return checkPublicJWK(jwk)
}

func checkPublicJWK(jwk jose.JSONWebKey) (*ecdsa.PublicKey, string, error) {
	if !jwk.IsPublic() || !jwk.Valid() {
		return nil, "", fail(ReasonMalformed, "jwk: not a valid public key")
	}
	pub, ok := jwk.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, "", fail(ReasonBadAlgorithm, "jwk: not a P-256 key")
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return nil, "", fail(ReasonMalformed, err.Error())
	}
	if jwk.KeyID != "" && jwk.KeyID != kid {
		return nil, "", fail(ReasonMalformed, "jwk: kid is not the key's thumbprint")
	}
	return pub, kid, nil
}

// Key is a province signing key as peers know it: public part and state.
type Key struct {
	ID        string
	State     KeyState
	NotBefore time.Time // when it starts (or started) signing
	RetiredAt time.Time // when it stopped signing; zero unless retired
	Expires   time.Time // it verifies nothing after this
	Public    *ecdsa.PublicKey
}

// acceptsCodeAt reports why a code issued at iat by k is not acceptable,
// or ReasonOK. The issuer's own clock is trusted only within ClockSkew.
func (k *Key) acceptsCodeAt(iat time.Time) Reason {
	switch k.State {
	case KeyCompromised:
		return ReasonKeyCompromised
	case KeyNext:
		return ReasonKeyNotActive
	case KeyActive:
		if iat.Before(k.NotBefore.Add(-ClockSkew)) {
			return ReasonKeyNotActive
		}
	case KeyRetired:
		if iat.Before(k.NotBefore.Add(-ClockSkew)) || iat.After(k.RetiredAt.Add(ClockSkew)) {
			return ReasonKeyNotActive
		}
	default:
		return ReasonUnknownKey
	}
	return ReasonOK
}
