package web

import (
	"strings"
	"testing"
)

// FuzzNegotiate: whatever ?lang= and Accept-Language a browser sends, the
// page speaks one of its two languages, and an explicit ?lang= of either
// wins over the header.
func FuzzNegotiate(f *testing.F) {
	for _, h := range []string{"", "en-US,en;q=0.9", "zh-CN;q=0.1, en;q=0.2", "en;q=0", "en;q=NaN, zh;q=0.5",
		"fr, en;q=1e309", "EN-gb;q=-1", ",;q=,", "zh-TW"} {
		f.Add("", h)
		f.Add("en", h)
	}
	f.Fuzz(func(t *testing.T, query, header string) {
		got := Negotiate(query, header)
		if got != LangZH && got != LangEN {
			t.Fatalf("Negotiate(%q, %q) = %q", query, header, got)
		}
		switch strings.ToLower(query) {
		case "en":
			if got != LangEN {
				t.Fatalf("?lang=%s gave %q", query, got)
			}
		case "zh", "zh-cn":
			if got != LangZH {
				t.Fatalf("?lang=%s gave %q", query, got)
			}
		}
	})
}
