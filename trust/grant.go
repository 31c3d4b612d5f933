package trust

import (
	"crypto/ecdsa"
	"fmt"
	"sort"
	"time"
)

// ContentKeyGrant is a province's signed statement giving one member node
// the content keys it needs: usually the current epoch's, the next one's,
// and older ones whose codes are still live. Each key is a compact JWE
// (ECDH-ES+A256KW, A256GCM, no cty) of the raw key, encrypted to the
// recipient node's enc key with the codec of sealed statements
// (sealed.go), so only that node can read it though every node sees the
// statement. A peer adds the keys of each grant to those it holds of the
// province (an older grant's keys may still decrypt live codes), up to
// MaxHeldContentKeys.
type ContentKeyGrant struct {
	Issuer   string       `json:"iss"`
	To       string       `json:"to"`
	IssuedAt int64        `json:"iat"`
	Keys     []GrantedKey `json:"keys"`
}

// GrantedKey is one sealed content key in a grant.
type GrantedKey struct {
	KeyID     string `json:"ckid"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	Key       string `json:"key"`
}

// MaxGrantKeys bounds the keys in one grant. A node grants every content
// key that may still decrypt a live code: MaxCodeLifetime divided by the
// epoch, plus the current and next epoch — 30 at the shortest epoch a node
// accepts (6 h).
const MaxGrantKeys = 64

// MaxHeldContentKeys bounds the content keys a State holds of one other
// province: a member's grants add to what is held (an older grant's keys
// may still decrypt live codes), so a member granting new keys without
// end would otherwise grow every peer's memory without end. It is
// MaxGrantKeys, so that MaxReplicaKeys holds what a node holds of 40
// members; the keys of the grant applied last are always kept.
const MaxHeldContentKeys = MaxGrantKeys

// maxGrantKeyLen bounds one sealed key of a grant, checked before it is
// parsed: one is about 420 bytes (a P-256 epk and a 32-byte key).
const maxGrantKeyLen = 1024

// GrantContentKey seals one content key to the recipient; see GrantContentKeys.
func GrantContentKey(s *StatementSigner, issuer, to string, toEnc *ecdsa.PublicKey, ck ContentKey, now time.Time) (string, error) {
	return GrantContentKeys(s, issuer, to, toEnc, []ContentKey{ck}, now)
}

// GrantContentKeys seals each content key to the recipient's enc key and
// signs the grant.
func GrantContentKeys(s *StatementSigner, issuer, to string, toEnc *ecdsa.PublicKey, cks []ContentKey, now time.Time) (string, error) {
	if len(cks) == 0 || len(cks) > MaxGrantKeys {
		return "", fmt.Errorf("grant: %d content keys, want 1..%d", len(cks), MaxGrantKeys)
	}
	g := ContentKeyGrant{Issuer: issuer, To: to, IssuedAt: now.Unix()}
	for _, ck := range cks {
		sealed, err := sealTo(ck.Key, grantKeyCty, toEnc)
		if err != nil {
			return "", fmt.Errorf("grant: %w", err)
		}
		g.Keys = append(g.Keys, GrantedKey{KeyID: ck.ID, NotBefore: ck.NotBefore.Unix(), Expires: ck.Expires.Unix(), Key: sealed})
	}
	return s.Sign(TypContentKey, g)
}

// OpenContentKeyGrant verifies a grant from province (with its keys) and,
// if it is addressed to self, decrypts its content keys with encKey. Every
// key must be one of province's own ("<province>/..."), or nothing is
// accepted.
func OpenContentKeyGrant(raw, province string, keys map[string]*Key, self string, encKey *ecdsa.PrivateKey) ([]ContentKey, error) {
	var g ContentKeyGrant
	if err := ParseSigned(raw, TypContentKey, province, keys, &g); err != nil {
		return nil, err
	}
	if g.Issuer != province {
		return nil, fail(ReasonWrongSigner, "grant issued in the name of "+g.Issuer)
	}
	if g.To != self {
		return nil, fail(ReasonNotRecipient, "grant addressed to "+g.To)
	}
	if len(g.Keys) == 0 || len(g.Keys) > MaxGrantKeys {
		return nil, fail(ReasonMalformed, fmt.Sprintf("grant with %d keys", len(g.Keys)))
	}
	out := make([]ContentKey, 0, len(g.Keys))
	for _, gk := range g.Keys {
		if len(gk.KeyID) <= len(province)+1 || gk.KeyID[:len(province)+1] != province+"/" {
			return nil, fail(ReasonWrongSigner, "grant for another province's content key")
		}
		// An id no code header can carry decrypts nothing, and a node
		// could not hand it on to its replicas (checkContentKey).
		if len(gk.KeyID) > maxKidLen || !isPlainValue(gk.KeyID) {
			return nil, fail(ReasonMalformed, fmt.Sprintf("grant of a content key whose id is not a plain value of at most %d bytes", maxKidLen))
		}
		key, err := openJWE(gk.Key, "grant key", grantKeyCty, encKey, maxGrantKeyLen, ReasonBadContent)
		if err != nil {
			return nil, err
		}
		if len(key) != ContentKeyLen {
			return nil, fail(ReasonBadContent, fmt.Sprintf("grant key of %d bytes, want %d", len(key), ContentKeyLen))
		}
		out = append(out, ContentKey{ID: gk.KeyID, Key: key, NotBefore: time.Unix(gk.NotBefore, 0), Expires: time.Unix(gk.Expires, 0)}.withAEAD())
	}
	return out, nil
}

// trimContentKeys drops province's content keys beyond
// MaxHeldContentKeys, those not in keep first, soonest to expire first.
// An honest province grants its every live key each time, far fewer than
// the limit, so only a member naming new keys without end loses any, and
// only its own. Callers hold mu.
func (s *State) trimContentKeys(province string, keep map[string]bool) {
	held := s.contentKeys[province]
	if len(held) <= MaxHeldContentKeys {
		return
	}
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if keep[ids[i]] != keep[ids[j]] {
			return !keep[ids[i]]
		}
		if a, b := held[ids[i]].Expires, held[ids[j]].Expires; !a.Equal(b) {
			return a.Before(b)
		}
		return ids[i] < ids[j]
	})
	for _, id := range ids[:len(ids)-MaxHeldContentKeys] {
		delete(held, id)
	}
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
