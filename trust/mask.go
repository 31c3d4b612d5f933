package trust

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaskName keeps the first character of a name and replaces the rest with
// one asterisk: "张三丰" → "张*". A scanner shows this, never the name.
// A name that starts with something not worth showing (an asterisk, an
// invisible or invalid character) masks to "*".
func MaskName(name string) string {
	name = strings.TrimSpace(name)
	r, size := utf8.DecodeRuneInString(name)
	if size == 0 || r == utf8.RuneError || r == '*' || !unicode.IsGraphic(r) {
		return "*"
	}
	return string(r) + "*"
}

// MaskDocument keeps the last four ASCII letters and digits of a document
// number: "440106199001011234" → "****1234". Separators and any other
// characters are dropped, and a short number keeps at most half of its
// characters, so the result always passes Content.Validate.
func MaskDocument(doc string) string {
	var kept []byte
	for i := 0; i < len(doc); i++ {
		if isDocChar(doc[i]) {
			kept = append(kept, doc[i])
		}
	}
	keep := min(4, len(kept)/2)
	return "****" + string(kept[len(kept)-keep:])
}

// isDocChar reports whether c may be shown from a document number.
func isDocChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// isMaskedName reports whether s is a name as MaskName writes one: "*",
// or one visible character (graphic, not a space) and "*". A control,
// format or space character first — a bidi override, a zero-width
// space — would be shown by a scanner page as text that reorders or
// hides what follows.
func isMaskedName(s string) bool {
	if s == "*" {
		return true
	}
	r, size := utf8.DecodeRuneInString(s)
	return r != utf8.RuneError && r != '*' && unicode.IsGraphic(r) && !unicode.IsSpace(r) && s[size:] == "*"
}

func isMaskedDoc(s string) bool {
	rest, ok := strings.CutPrefix(s, "****")
	if !ok || len(rest) > 4 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isDocChar(rest[i]) {
			return false
		}
	}
	return true
}
