package node

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/trust"
)

// TestCodeReasonKnowsEveryReasonOfTheCodeVectors keeps codeReason, the
// reasons a replica's record may carry, in step with trust: every code
// vector trust tests (good_*, or fail_<reason>_*) names one of them, so a
// reason trust adds with its vectors is not refused at home.
func TestCodeReasonKnowsEveryReasonOfTheCodeVectors(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("..", "trust", "testdata", "vectors", "code", "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no code vectors found: %v", err)
	}
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "good_") {
			continue
		}
		rest, ok := strings.CutPrefix(base, "fail_")
		if !ok {
			t.Fatalf("code vector %s is neither good_ nor fail_", base)
		}
		known := false
		for words := strings.Split(rest, "_"); len(words) > 0 && !known; words = words[:len(words)-1] {
			known = codeReason(trust.Reason(strings.Join(words, "_")))
		}
		if !known {
			t.Errorf("code vector %s names a reason codeReason does not know", base)
		}
	}
}
