package trust

import (
	"encoding/json"
	"math"
	"unicode/utf8"
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

// plainString reads a JSON string that json.Marshal writes as it is:
// valid UTF-8 with no quote, backslash or control character, none of the
// characters it escapes for HTML (<, >, &) and neither U+2028 nor U+2029.
func (p *canonReader) plainString(out *string) bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[p.i+1 : j]
			if !utf8.Valid(s) {
				return false
			}
			*out, p.i = string(s), j+1
			return true
		case c < 0x20 || c == '\\' || c == '<' || c == '>' || c == '&':
			return false
		case c == 0xe2 && j+2 < len(p.b) && p.b[j+1] == 0x80 && (p.b[j+2] == 0xa8 || p.b[j+2] == 0xa9):
			return false // U+2028, U+2029
		}
	}
	return false
}

// int reads a JSON integer as json.Marshal writes an int64: an optional
// minus sign (never on zero), then digits without a leading zero, within
// the int64 range.
func (p *canonReader) int(out *int64) bool {
	j := p.i
	neg := j < len(p.b) && p.b[j] == '-'
	if neg {
		j++
	}
	start, u := j, uint64(0)
	for j < len(p.b) && j-start < 20 && p.b[j] >= '0' && p.b[j] <= '9' {
		u = u*10 + uint64(p.b[j]-'0') // 19 digits cannot overflow; 20 are refused
		j++
	}
	n := j - start
	if n == 0 || n > 19 || (n > 1 && p.b[start] == '0') || (neg && u == 0) {
		return false
	}
	if (!neg && u > math.MaxInt64) || (neg && u > 1<<63) {
		return false
	}
	if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return false
	}
	if neg {
		*out = -int64(u) // 1<<63 wraps to math.MinInt64, as it should
	} else {
		*out = int64(u)
	}
	p.i = j
	return true
}
