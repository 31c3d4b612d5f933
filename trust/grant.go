package trust

import (
	"crypto/ecdsa"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// ContentKeyGrant is a province's signed statement giving one member node
// its content key for an epoch. Key is a compact JWE (ECDH-ES+A256KW,
// A256GCM) of the raw key, encrypted to the recipient node's enc key, so
// only that node can read it even though every node sees the statement.
type ContentKeyGrant struct {
	Issuer    string `json:"iss"`
	To        string `json:"to"`
	KeyID     string `json:"ckid"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	Key       string `json:"key"`
}

// GrantContentKey seals ck to the recipient's enc key and signs the grant.
func GrantContentKey(s *StatementSigner, issuer, to string, toEnc *ecdsa.PublicKey, ck ContentKey, now time.Time) (string, error) {
	encKID, err := Thumbprint(toEnc)
	if err != nil {
		return "", err
	}
	rcpt := jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: toEnc, KeyID: encKID}
	enc, err := jose.NewEncrypter(jose.A256GCM, rcpt, nil)
	if err != nil {
		return "", fmt.Errorf("grant: %w", err)
	}
	obj, err := enc.Encrypt(ck.Key)
	if err != nil {
		return "", fmt.Errorf("grant: %w", err)
	}
	sealed, err := obj.CompactSerialize()
	if err != nil {
		return "", err
	}
	g := ContentKeyGrant{Issuer: issuer, To: to, KeyID: ck.ID, IssuedAt: now.Unix(),
		NotBefore: ck.NotBefore.Unix(), Expires: ck.Expires.Unix(), Key: sealed}
	return s.Sign(TypContentKey, g)
}

// OpenContentKeyGrant verifies a grant from province (with its keys) and,
// if it is addressed to self, decrypts the content key with encKey.
func OpenContentKeyGrant(raw, province string, keys map[string]*Key, self string, encKey *ecdsa.PrivateKey) (ContentKey, error) {
	var g ContentKeyGrant
	if err := ParseSigned(raw, TypContentKey, province, keys, &g); err != nil {
		return ContentKey{}, err
	}
	if g.Issuer != province || len(g.KeyID) <= len(province) || g.KeyID[:len(province)+1] != province+"/" {
		return ContentKey{}, fail(ReasonWrongSigner, "grant for another province's content key")
	}
	if g.To != self {
		return ContentKey{}, fail(ReasonNotRecipient, "grant addressed to "+g.To)
	}
	jwe, err := jose.ParseEncryptedCompact(g.Key, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, contentEncs)
	if err != nil {
		return ContentKey{}, fail(ReasonMalformed, "grant key: "+err.Error())
	}
	key, err := jwe.Decrypt(encKey)
	if err != nil || len(key) != ContentKeyLen {
		return ContentKey{}, fail(ReasonBadContent, "grant key does not decrypt")
	}
	return ContentKey{ID: g.KeyID, Key: key, NotBefore: time.Unix(g.NotBefore, 0), Expires: time.Unix(g.Expires, 0)}, nil
}

// Heartbeat is a node's signed report of how current it is, so peers can
// see who lags and raise a stale-peer alarm.
type Heartbeat struct {
	Issuer           string `json:"iss"`
	IssuedAt         int64  `json:"iat"`
	KeysetVersion    uint64 `json:"keyset_version"`
	ContentKeyID     string `json:"ckid"`
	RevocationSeq    uint64 `json:"revocation_seq"`
	TrustListVersion uint64 `json:"trustlist_version"`
}

// ParseSigned verifies a compact statement of typ signed by one of
// province's usable signing keys (active or retired, never next or
// compromised) and decodes its payload into v, refusing unknown fields.
func ParseSigned(raw, typ, province string, keys map[string]*Key, v any) error {
	return parseSignedByProvince(raw, typ, province, keys, v)
}
