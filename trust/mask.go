package trust

import (
	"strings"
	"unicode/utf8"
)

// MaskName keeps the first character of a name and replaces the rest with
// one asterisk: "张三丰" → "张*". A scanner shows this, never the name.
func MaskName(name string) string {
	name = strings.TrimSpace(name)
	r, size := utf8.DecodeRuneInString(name)
	if size == 0 || r == utf8.RuneError {
		return "*"
	}
	return string(r) + "*"
}

// MaskDocument keeps the last four characters of a document number:
// "440106199001011234" → "****1234". Shorter numbers keep fewer.
func MaskDocument(doc string) string {
	doc = strings.TrimSpace(doc)
	keep := 4
	if n := len(doc); n <= 4 {
		keep = n / 2
	}
	return "****" + doc[len(doc)-keep:]
}

func isMaskedName(s string) bool {
	if s == "*" {
		return true
	}
	r, size := utf8.DecodeRuneInString(s)
	return r != utf8.RuneError && r != '*' && s[size:] == "*"
}

func isMaskedDoc(s string) bool {
	rest, ok := strings.CutPrefix(s, "****")
	if !ok || len(rest) > 4 {
		return false
	}
	for _, c := range rest {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
