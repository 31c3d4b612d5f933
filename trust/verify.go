package trust

import (
	"strings"
	"time"
)

// Result is the outcome of Verify. When Reason is not ReasonOK, the fields
// after it hold only what was learned before the failing check, and none
// of it may be shown as trusted.
type Result struct {
	Reason   Reason
	Issuer   string
	JTI      string
	KeyID    string
	IssuedAt time.Time
	Expires  time.Time
	// RevocationsAsOf is the moment as of which the verifier held every
	// revocation of Issuer, once that was checked (Snapshot.RevocationsHeld);
	// zero when it was not, or is unknown.
	RevocationsAsOf time.Time
	Content         Content // decrypted; zero unless Reason is ReasonOK
}

// Valid reports whether the code passed every check.
func (r Result) Valid() bool { return r.Reason == ReasonOK }

// Verify checks a code's text against a snapshot of trust at time now and
// returns the first check that failed, in this order: size, prefix and
// header, trust freshness, issuer membership and standing, the issuer's
// keyset freshness, key, key state, signature, lifetime, validity window,
// revocation, the freshness of the issuer's revocations held, content. It
// does no I/O.
func Verify(code string, s *Snapshot, rev RevocationSet, now time.Time) Result {
	if len(code) > MaxCodeLen {
		return Result{Reason: ReasonOversized}
	}
	body, ok := strings.CutPrefix(code, CodePrefix)
	if !ok {
		return Result{Reason: ReasonMalformed}
	}
	c, err := parseCompact(body, TypCode, MaxCodeLen)
	if err != nil {
		return Result{Reason: ReasonOf(err)}
	}
	// The payload is read before the signature is checked only to learn
	// which province's keys to check it with. It must be the canonical
	// encoding of its claims — which also refuses unknown, duplicate and
	// case-variant claims — so that a code has one encoding, short of
	// ECDSA's own (r, n-s).
	var cl Claims
	if !decodeClaims(c.payload, &cl) || !wellFormed(&cl) {
		return Result{Reason: ReasonMalformed}
	}
	res := Result{Issuer: cl.Issuer, JTI: cl.JTI, KeyID: c.header.Kid,
		IssuedAt: time.Unix(cl.IssuedAt, 0), Expires: time.Unix(cl.Expires, 0)}
	fail := func(r Reason) Result { res.Reason = r; return res }

	if s == nil || (!s.StaleAfter.IsZero() && now.After(s.StaleAfter)) {
		return fail(ReasonTrustStale)
	}
	m, ok := s.Members[cl.Issuer]
	if !ok || m.Status == MemberRemoved {
		return fail(ReasonUnknownIssuer)
	}
	if m.Status != MemberActive {
		return fail(ReasonIssuerSuspended)
	}
	if exp, held := s.KeysetExpires[cl.Issuer]; held && now.After(exp) {
		return fail(ReasonTrustStale) // no freeze: see Snapshot.KeysetExpires
	}
	key, ok := s.Keys[cl.Issuer][c.header.Kid]
	if !ok {
		return fail(ReasonUnknownKey)
	}
	if r := key.acceptsCodeAt(res.IssuedAt); r != ReasonOK {
		return fail(r)
	}
	if _, err := c.verify(key.Public); err != nil {
		return fail(ReasonBadSignature)
	}
	if cl.Expires <= cl.IssuedAt || res.Expires.Sub(res.IssuedAt) > MaxCodeLifetime ||
		(!key.Expires.IsZero() && res.Expires.After(key.Expires)) {
		return fail(ReasonBadLifetime)
	}
	if now.Add(ClockSkew).Before(res.IssuedAt) {
		return fail(ReasonNotYetValid)
	}
	if now.After(res.Expires.Add(ClockSkew)) {
		return fail(ReasonExpired)
	}
	if rev != nil && rev.Revoked(cl.Issuer, cl.JTI) {
		return fail(ReasonRevoked)
	}
	if asOf, stale, checked := s.RevocationsHeld(cl.Issuer, now); checked {
		res.RevocationsAsOf = asOf
		if stale {
			return fail(ReasonRevocationsStale)
		}
	}
	content, r := openContent(cl.CT, cl.Issuer, s.ContentKeys[cl.Issuer])
	if r != ReasonOK {
		return fail(r)
	}
	res.Content = content
	res.Reason = ReasonOK
	return res
}

// wellFormed checks the shape of claims that do not need a key to check.
func wellFormed(cl *Claims) bool {
	return cl.Version == FormatVersion && isProvinceID(cl.Issuer) &&
		isJTI(cl.JTI) && cl.CT != "" && cl.IssuedAt > 0 && cl.Expires > 0
}

// isProvinceID reports whether s looks like a GB/T 2260 code: six digits.
func isProvinceID(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
