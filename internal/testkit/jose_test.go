package testkit

import (
	"fmt"
	"testing"
)

// TestReadablePartsCutsEncodedTextAndDecodesIt: a base64url value that
// spells a word by chance ("cmVk", which decodes to "red") is cut from
// the text and searched decoded; a clear value stays in the text.
func TestReadablePartsCutsEncodedTextAndDecodesIt(t *testing.T) {
	parts, err := ReadableParts([]byte(`{"jti":"xxredxx","ct":"cmVk.","st":"green"}`), "jti", "ct")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%q", parts)
	if want := `["{\"jti\":\"\",\"ct\":\"\",\"st\":\"green\"}" "\xc7\x1a\xdew\x1c" "red" ""]`; got != want {
		t.Fatalf("parts %s, want %s", got, want)
	}
	for _, bad := range []struct{ part, field string }{
		{`{"jti":"x"}`, "ct"}, {`{"ct":1}`, "ct"}, {`{"ct":"not base64!"}`, "ct"}, {`[]`, "ct"},
	} {
		if _, err := ReadableParts([]byte(bad.part), bad.field); err == nil {
			t.Errorf("%s, field %s: no error", bad.part, bad.field)
		}
	}
}
