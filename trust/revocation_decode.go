package trust

import (
	"bytes"
	"unicode/utf8"
)

// decodeRevocation decodes a verified revocation payload as decodeStrict
// would. A payload in the exact form a StatementSigner's province writes
// (encoding/json's: fields in order, no spaces, plain strings, integers)
// is read by hand, without reflection or a second pass: decodeStrict cost
// about 1.4 µs an entry, the largest part of a peer's CPU in a revocation
// storm, where every peer reads every entry. Any other payload goes to
// decodeStrict, which decides and words the error.
func decodeRevocation(payload []byte, r *Revocation) error {
	if canonicalRevocation(payload, r) {
		return nil
	}
	*r = Revocation{}
	return decodeStrict(payload, r)
}

// canonicalRevocation reads payload into r if it is exactly
// {"iss":S,"seq":N,"iat":N,"entries":[{"jti":S,"exp":N},...]} with plain
// strings (no escapes, control characters or invalid UTF-8) and
// non-negative integers of at most 18 digits, and reports whether it did.
func canonicalRevocation(payload []byte, r *Revocation) bool {
	p := canonReader{b: payload}
	var seq, iat int64
	*r = Revocation{}
	if !p.lit(`{"iss":`) || !p.str(&r.Issuer) || !p.lit(`,"seq":`) || !p.num(&seq) ||
		!p.lit(`,"iat":`) || !p.num(&iat) || !p.lit(`,"entries":[`) {
		return false
	}
	r.Seq, r.IssuedAt = uint64(seq), iat
	r.Entries = make([]RevocationEntry, 0, p.count(`{"jti":`))
	for i := 0; !p.lit(`]`); i++ {
		if i > 0 && !p.lit(`,`) {
			return false
		}
		var e RevocationEntry
		if !p.lit(`{"jti":`) || !p.str(&e.JTI) || !p.lit(`,"exp":`) || !p.num(&e.Expires) || !p.lit(`}`) {
			return false
		}
		r.Entries = append(r.Entries, e)
	}
	return p.lit(`}`) && p.i == len(p.b)
}

// canonReader reads a payload from the front; each method reports whether
// what it expects is there and, if so, consumes it.
type canonReader struct {
	b []byte
	i int
}

func (p *canonReader) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// str reads a JSON string that needs no unescaping.
func (p *canonReader) str(out *string) bool {
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
		case c == '\\' || c < 0x20:
			return false
		}
	}
	return false
}

// num reads a non-negative JSON integer of at most 18 digits (so it fits
// an int64 without overflow checks).
func (p *canonReader) num(out *int64) bool {
	j, v := p.i, int64(0)
	for j < len(p.b) && j-p.i < 19 && p.b[j] >= '0' && p.b[j] <= '9' {
		v = v*10 + int64(p.b[j]-'0')
		j++
	}
	n := j - p.i
	if n == 0 || n > 18 || (n > 1 && p.b[p.i] == '0') {
		return false
	}
	if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return false
	}
	*out, p.i = v, j
	return true
}

// count is how many times s occurs in the rest of the payload, to size
// the entries slice (it may overcount; the bound is the payload's size).
func (p *canonReader) count(s string) int { return bytes.Count(p.b[p.i:], []byte(s)) }
