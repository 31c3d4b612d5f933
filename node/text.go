package node

import (
	"unicode"
	"unicode/utf8"
)

// Free-text limits, in characters.
const (
	// maxNameLen bounds a resident's name.
	maxNameLen = 64
	// maxReasonLen bounds the reason given for a status change.
	maxReasonLen = 200
	// maxScannerNameLen and maxScannerPlaceLen bound a scanner's name and
	// kind of place (also in bytes: 100 and 50, checked by AddScanner).
	maxScannerNameLen  = 100
	maxScannerPlaceLen = 50
)

// checkText checks a free-text field someone typed — a name, a reason, an
// appeal — and says which rule it broke, as an EInvalid naming the field:
// valid UTF-8, at most max characters, no control characters (line breaks
// and tabs only where multiline), no bidirectional overrides or isolates
// (U+202A–U+202E, U+2066–U+2069, which make a log line or an operator's
// screen show text in another order than it was stored), and, unless
// empty, at least one visible character: a string of spaces, zero-width or
// other invisible characters is refused. Whether an empty value is allowed
// is the caller's rule.
func checkText(field, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return Errorf(EInvalid, "%s is not valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > max {
		return Errorf(EInvalid, "%s is limited to %d characters", field, max)
	}
	visible := false
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			if !multiline {
				return Errorf(EInvalid, "%s must be one line: no line breaks or tabs", field)
			}
		case unicode.IsControl(r):
			return Errorf(EInvalid, "%s holds a control character", field)
		case isBidiControl(r):
			return Errorf(EInvalid, "%s holds a bidirectional override or isolate", field)
		case !unicode.IsSpace(r) && !isInvisible(r):
			visible = true
		}
	}
	if s != "" && !visible {
		return Errorf(EInvalid, "%s holds no visible character", field)
	}
	return nil
}

// isBidiControl reports the explicit bidirectional embeddings, overrides
// and isolates.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// isInvisible reports characters that show nothing on their own: format
// characters (zero-width space and joiners, BOM...), combining marks, and
// the fillers that render as blanks.
func isInvisible(r rune) bool {
	switch r {
	case '\u115F', '\u1160', '\u3164', '\uFFA0', '\u2800':
		return true
	}
	return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me)
}
