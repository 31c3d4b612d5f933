package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePinAcceptsOnlyASHA256InHexOfEitherCase(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{sum, sum},
		{strings.ToUpper(sum), sum},
	} {
		got, err := parsePin("--pin", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parsePin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"abc", sum[:63], sum + "a", sum[:63] + "g", " " + sum[:63], "sha256:" + sum} {
		_, err := parsePin("--pin", bad)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "want 64 hex digits") {
			t.Errorf("parsePin(%q): %v, want a usage error naming 64 hex digits", bad, err)
		}
	}
}
