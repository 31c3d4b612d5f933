package api

import (
	"unicode/utf8"

	"github.com/hcfed/hcfed/node"
)

// decodeStatusLine decodes one line of a bulk status body with the same
// rules as decode (exact keys, no duplicates, no trailing data). The
// common line, a flat object of plain strings, is read by hand: the
// general strict decoder walks each line twice with reflection, which cost
// about 11 µs a line, a fifth of the bulk path's CPU in the storm
// benchmark. Anything else (escapes, other types, unknown or repeated
// keys, bad syntax) goes to decode, which decides and words the error.
func decodeStatusLine(raw []byte, l *node.StatusLine) error {
	if fastStatusLine(raw, l) {
		return nil
	}
	*l = node.StatusLine{}
	return decode(raw, l)
}

// fastStatusLine reads raw into l if it is an object whose members are
// distinct keys of node.StatusLine with string values free of escapes,
// control characters and invalid UTF-8, and reports whether it did. On
// false l may be partly filled.
func fastStatusLine(raw []byte, l *node.StatusLine) bool {
	*l = node.StatusLine{}
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	var seen [4]bool
	for first := true; ; first = false {
		i = skipSpace(raw, i+1)
		if i < len(raw) && raw[i] == '}' && first {
			break
		}
		key, j, ok := plainString(raw, i)
		if !ok {
			return false
		}
		i = skipSpace(raw, j)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		val, j, ok := plainString(raw, skipSpace(raw, i+1))
		if !ok {
			return false
		}
		var dst *string
		var k int
		switch key {
		case "subject":
			dst, k = &l.Subject, 0
		case "status":
			dst, k = &l.Status, 1
		case "reason":
			dst, k = &l.Reason, 2
		case "ref":
			dst, k = &l.Ref, 3
		default:
			return false
		}
		if seen[k] {
			return false
		}
		seen[k], *dst = true, val
		i = skipSpace(raw, j)
		if i >= len(raw) {
			return false
		}
		if raw[i] == '}' {
			break
		}
		if raw[i] != ',' {
			return false
		}
	}
	return skipSpace(raw, i+1) == len(raw)
}

// plainString reads a JSON string at raw[i] that needs no unescaping and
// is valid UTF-8, returning it and the index after its closing quote.
func plainString(raw []byte, i int) (string, int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			s := raw[i+1 : j]
			if !utf8.Valid(s) {
				return "", 0, false
			}
			return string(s), j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' || raw[i] == '\n') {
		i++
	}
	return i
}
