package trust

import (
	"encoding/json"
	"math"
)

// A code's claims and its decrypted content must each be the canonical
// encoding of their struct: exactly the bytes json.Marshal writes for
// what they decode to. Checking that the general way — json.Unmarshal,
// then json.Marshal and compare — cost about 8 µs of a Verify's 150, the
// largest part of its cost outside the signature check. The readers below
// take, by hand and in one pass, only bytes that json.Marshal would write:
// members in field order, no spaces, integers in Go's decimal form, and
// strings that json.Marshal writes as they are (plainString). Anything
// else — an escape, an HTML character, U+2028, a member out of place —
// goes to the general path, which decides. So Verify accepts and refuses
// exactly the codes it did, with the same results.

// decodeClaims reads a code's payload into cl and reports whether it is
// the canonical encoding of cl.
func decodeClaims(payload []byte, cl *Claims) bool {
	if canonicalClaims(payload, cl) {
		return true
	}
	var slow Claims // its own variable, so that cl need not escape to the heap
	ok := json.Unmarshal(payload, &slow) == nil && isCanonical(&slow, payload)
	*cl = slow
	return ok
}

// decodeContent reads decrypted content into c and reports whether it is
// the canonical encoding of c.
func decodeContent(plain []byte, c *Content) bool {
	if canonicalContent(plain, c) {
		return true
	}
	var slow Content
	ok := json.Unmarshal(plain, &slow) == nil && isCanonical(&slow, plain)
	*c = slow
	return ok
}

// canonicalClaims reads payload into cl if it is exactly
// {"iss":S,"jti":S,"iat":N,"exp":N,"v":N,"ct":S} with plain strings, and
// reports whether it did. On false, cl holds nothing to rely on.
func canonicalClaims(payload []byte, cl *Claims) bool {
	p := canonReader{b: payload}
	var v int64
	if !p.lit(`{"iss":`) || !p.plainString(&cl.Issuer) || !p.lit(`,"jti":`) || !p.plainString(&cl.JTI) ||
		!p.lit(`,"iat":`) || !p.int(&cl.IssuedAt) || !p.lit(`,"exp":`) || !p.int(&cl.Expires) ||
		!p.lit(`,"v":`) || !p.int(&v) || !p.lit(`,"ct":`) || !p.plainString(&cl.CT) || !p.lit(`}`) {
		return false
	}
	if v < math.MinInt || v > math.MaxInt { // Version is an int
		return false
	}
	cl.Version = int(v)
	return p.i == len(p.b)
}

// canonicalContent reads plain into c if it is exactly
// {"st":S,"dn":S,"doc":S} with plain strings, and reports whether it did.
// On false, c holds nothing to rely on.
func canonicalContent(plain []byte, c *Content) bool {
	p := canonReader{b: plain}
	var st string
	if !p.lit(`{"st":`) || !p.plainString(&st) || !p.lit(`,"dn":`) || !p.plainString(&c.Name) ||
		!p.lit(`,"doc":`) || !p.plainString(&c.Doc) || !p.lit(`}`) {
		return false
	}
	c.Status = Status(st)
	return p.i == len(p.b)
}
