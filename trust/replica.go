package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// A verifier replica holds no province key of its own, so it cannot open
// the content-key grants peers address to its province (they are sealed
// to the home node's enc key). Its home node hands it the content keys it
// holds instead — its own and those peers granted it — as one compact JWE
// (ECDH-ES+A256KW, A256GCM) sealed to an enc key the replica made itself
// and registered with its home node. The content keys are never sent in
// the clear, whatever the transport.

// replicaKeysCty is the content type of sealed replica content keys.
const replicaKeysCty = "hcfed-replica-keys+json"

// Replica content-key limits.
const (
	// MaxReplicaKeys bounds the content keys in one sealed set: every
	// member's grant at its largest (MaxGrantKeys) for 40 members.
	MaxReplicaKeys = 40 * MaxGrantKeys
	// MaxReplicaKeysLen bounds the sealed set.
	MaxReplicaKeysLen = 1 << 20
)

// replicaKey is one content key in a sealed set.
type replicaKey struct {
	ID        string `json:"ckid"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	Key       string `json:"key"` // base64url
}

// SealContentKeys seals cks to a replica's enc key.
func SealContentKeys(cks []ContentKey, to *ecdsa.PublicKey) (string, error) {
	if len(cks) > MaxReplicaKeys {
		return "", fmt.Errorf("replica keys: %d content keys, limit %d", len(cks), MaxReplicaKeys)
	}
	out := make([]replicaKey, 0, len(cks))
	for _, ck := range cks {
		if err := checkContentKey(ck); err != nil {
			return "", err
		}
		out = append(out, replicaKey{ID: ck.ID, NotBefore: ck.NotBefore.Unix(), Expires: ck.Expires.Unix(),
			Key: base64.RawURLEncoding.EncodeToString(ck.Key)})
	}
	plain, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return sealTo(plain, replicaKeysCty, to)
}

// OpenContentKeys decrypts a set sealed by SealContentKeys with the
// replica's enc key. Every key must name its province ("<province>/...")
// and be a whole AES-256 key, or nothing is accepted.
func OpenContentKeys(raw string, encKey *ecdsa.PrivateKey) ([]ContentKey, error) {
	plain, err := openSealed(raw, replicaKeysCty, encKey, MaxReplicaKeysLen)
	if err != nil {
		return nil, err
	}
	// Strict, as every statement: the home node is a peer process, and a
	// key given twice or mis-cased must not mean one key to us and
	// another to a reader that matches keys exactly.
	var in []replicaKey
	if err := decodeStrict([]byte(plain), &in); err != nil {
		return nil, err
	}
	if len(in) > MaxReplicaKeys {
		return nil, fail(ReasonMalformed, fmt.Sprintf("replica content keys: %d, limit %d", len(in), MaxReplicaKeys))
	}
	out := make([]ContentKey, 0, len(in))
	for _, k := range in {
		key, err := base64.RawURLEncoding.DecodeString(k.Key)
		ck := ContentKey{ID: k.ID, Key: key, NotBefore: time.Unix(k.NotBefore, 0), Expires: time.Unix(k.Expires, 0)}
		if err != nil || checkContentKey(ck) != nil || !isProvinceID(contentKeyProvince(k.ID)) {
			return nil, fail(ReasonMalformed, "replica content key "+k.ID)
		}
		out = append(out, ck.withAEAD())
	}
	return out, nil
}

// contentKeyProvince is the province a content key id names.
func contentKeyProvince(id string) string {
	p, _, _ := strings.Cut(id, "/")
	return p
}

// SetContentKeys replaces every content key held with cks, which the
// caller received over a channel it trusts: a verifier replica's home
// node, which read them from its own keys and from grants it verified.
// Only a replica, which holds no keys of its own, calls it. Keys that
// expired before now are left out.
func (s *State) SetContentKeys(cks []ContentKey, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contentKeys = map[string]map[string]ContentKey{}
	for _, ck := range cks {
		if now.After(ck.Expires.Add(ClockSkew)) {
			continue
		}
		s.putContentKey(contentKeyProvince(ck.ID), ck)
	}
	s.rebuild()
}

// A replica signs every batch of verification records it sends home with
// a signing key of its own (never its enc key), registered with home
// together with the enc key: a replica token alone cannot add records.
// The signature is a compact JWS of typ replicaRecordsTyp whose payload is
// the SHA-256 of the request body's exact bytes, sent beside the body
// (the Hcfed-Replica-Signature header), so the body stays what it was.

// replicaRecordsTyp is the typ of a replica's signature of a records body.
const replicaRecordsTyp = "hcfed-replica-records+jws"

// maxReplicaSignatureLen bounds the signature header: a header of a
// thumbprint, a 32-byte payload and an ES256 signature are about 250.
const maxReplicaSignatureLen = 512

// SignReplicaRecords signs body, the exact bytes of a POST
// /v1/replica/records, with a replica's signing key.
func SignReplicaRecords(key *ecdsa.PrivateKey, body []byte) (string, error) {
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256(body)
	return signCompact(key, kid, replicaRecordsTyp, digest[:])
}

// VerifyReplicaRecords checks sig, SignReplicaRecords's signature of body,
// with the replica's registered signing key pub.
func VerifyReplicaRecords(sig string, body []byte, pub *ecdsa.PublicKey) error {
	c, err := parseCompact(sig, replicaRecordsTyp, maxReplicaSignatureLen)
	if err != nil {
		return err
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return err
	}
	if c.header.Kid != kid {
		return fail(ReasonUnknownKey, "signed by key "+c.header.Kid+", not the replica's registered one")
	}
	payload, err := c.verify(pub)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !bytes.Equal(payload, digest[:]) {
		return fail(ReasonBadSignature, "the signature is of another body")
	}
	return nil
}

// SigJWK encodes a replica's signing public key.
func SigJWK(pub *ecdsa.PublicKey) (json.RawMessage, error) {
	jwk, err := PublicJWK(pub, "sig")
	if err != nil {
		return nil, err
	}
	return json.Marshal(jwk)
}

// replicaFingerprintLen is how much of the SHA-256 a fingerprint shows:
// 160 bits, 32 base32 characters.
const replicaFingerprintLen = 20

// ReplicaFingerprint is what an operator compares and types to bind a
// replica's keys to the replica: a SHA-256 over the thumbprints of its enc
// and signing keys, 160 bits of it in base32, in groups of four
// ("ABCD-EFGH-..."). The replica prints it (at start, in 'hcnode check'),
// home shows the one registered, and 'hcnode replica confirm' takes it.
func ReplicaFingerprint(enc, sig *ecdsa.PublicKey) (string, error) {
	ek, err := Thumbprint(enc)
	if err != nil {
		return "", err
	}
	sk, err := Thumbprint(sig)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte("hcfed replica keys\x00" + ek + "\x00" + sk))
	return groupFingerprint(h[:replicaFingerprintLen]), nil
}

// groupFingerprint writes fp in base32, in groups of four.
func groupFingerprint(fp []byte) string {
	s := base32.StdEncoding.EncodeToString(fp) // 160 bits: 32 characters, no padding
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String()
}

// ParseReplicaFingerprint reads a fingerprint as an operator typed it
// (any case, with or without the dashes, spaces around) into
// ReplicaFingerprint's form; false if it is not one.
func ParseReplicaFingerprint(s string) (string, bool) {
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	raw, err := base32.StdEncoding.DecodeString(s)
	if len(s) != 32 || err != nil || len(raw) != replicaFingerprintLen {
		return "", false
	}
	return groupFingerprint(raw), true
}
