package trust

import (
	"fmt"
	"time"
)

// RevocationEntry revokes one code until it would have expired anyway.
type RevocationEntry struct {
	JTI     string `json:"jti"`
	Expires int64  `json:"exp"`
}

// Revocation is a province's signed statement that codes it issued are
// revoked. Seq increases by one per statement, so a peer that sees a gap
// knows it missed one and asks for a snapshot.
type Revocation struct {
	Issuer   string            `json:"iss"`
	Seq      uint64            `json:"seq"`
	IssuedAt int64             `json:"iat"`
	Entries  []RevocationEntry `json:"entries"`
}

// ParseRevocation verifies a revocation statement with the issuing
// province's keys. Any of its keys that is active or retired may sign; a
// compromised key may not.
func ParseRevocation(raw string, province string, keys map[string]*Key) (*Revocation, error) {
	var r Revocation
	if err := parseSignedByProvince(raw, TypRevocation, province, keys, &r); err != nil {
		return nil, err
	}
	if r.Issuer != province {
		return nil, fail(ReasonWrongSigner, fmt.Sprintf("revocation of %q on the subject of %q", r.Issuer, province))
	}
	if err := checkEntries(r.Entries); err != nil {
		return nil, err
	}
	return &r, nil
}

func checkEntries(es []RevocationEntry) error { return checkEntriesN(es, MaxRevocationEntries) }

func checkEntriesN(es []RevocationEntry, max int) error {
	if len(es) > max {
		return fail(ReasonOversized, fmt.Sprintf("%d entries", len(es)))
	}
	for _, e := range es {
		if !isJTI(e.JTI) || e.Expires <= 0 {
			return fail(ReasonMalformed, "revocation entry")
		}
	}
	return nil
}

// parseSignedByProvince verifies a compact statement of typ signed by one
// of province's usable signing keys and decodes its payload into v.
func parseSignedByProvince(raw, typ, province string, keys map[string]*Key, v any) error {
	return parseSignedByProvinceN(raw, typ, province, keys, v, MaxStatementLen)
}

func parseSignedByProvinceN(raw, typ, province string, keys map[string]*Key, v any, maxLen int) error {
	c, err := parseCompact(raw, typ, maxLen)
	if err != nil {
		return err
	}
	payload, err := c.verifyByProvince(province, keys)
	if err != nil {
		return err
	}
	if r, ok := v.(*Revocation); ok {
		return decodeRevocation(payload, r)
	}
	return decodeStrict(payload, v)
}

// verifyByProvince checks that c is signed by one of province's usable
// signing keys, keys, and returns its verified payload.
func (c *compact) verifyByProvince(province string, keys map[string]*Key) ([]byte, error) {
	// A kid not in province's keyset is unknown here, whoever's key it
	// may be: a key of another province is no more known to province's
	// keyset than a made-up one, and a key province has just created is
	// known once its keyset arrives (the federation holds such a
	// statement until a keyset issued no earlier than it says).
	k, ok := keys[c.header.Kid]
	if !ok {
		return nil, fail(ReasonUnknownKey, fmt.Sprintf("kid is not in the keyset of %s", province))
	}
	if k.State == KeyCompromised {
		return nil, fail(ReasonKeyCompromised, "")
	}
	payload, err := c.verify(k.Public)
	if err != nil {
		return nil, err
	}
	// Checked after the signature: a peer holds a statement of a key not
	// yet active until the keyset that activates it arrives, so a forgery
	// merely naming a next key must be refused as one, not held.
	if k.State == KeyNext {
		return nil, fail(ReasonKeyNotActive, "")
	}
	return payload, nil
}

// Live drops entries whose code has expired by now: a revoked code that
// has expired fails on its own, so peers need not remember it.
func Live(es []RevocationEntry, now time.Time) []RevocationEntry {
	out := es[:0:0]
	for _, e := range es {
		if time.Unix(e.Expires, 0).Add(ClockSkew).After(now) {
			out = append(out, e)
		}
	}
	return out
}
