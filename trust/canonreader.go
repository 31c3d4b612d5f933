package trust

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// The hand readers of canonical payloads (code_decode.go,
// revocation_decode.go) share one reader: it takes only bytes that
// json.Marshal writes, and whatever it does not take goes to the general
// decoder, which decides.

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

// count is how many times s occurs in the rest of the payload, to size
// the entries slice (it may overcount; the bound is the payload's size).
func (p *canonReader) count(s string) int { return bytes.Count(p.b[p.i:], []byte(s)) }
