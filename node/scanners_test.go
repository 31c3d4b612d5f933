package node_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// TestScannerNameAndPlaceFollowTheFreeTextRules: a scanner's name and
// kind of place are shown to operators and recorded with every
// verification, so they obey the rules other free text does.
func TestScannerNameAndPlaceFollowTheFreeTextRules(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	for _, c := range []struct{ name, place string }{
		{"gate\x001", "checkpoint"},
		{"gate\n1", "checkpoint"},
		{"gate \u202e1", "checkpoint"},
		{"\u200b\u200b", "checkpoint"},
		{"gate 1", "check\tpoint"},
		{"gate 1", "\u2066station"},
	} {
		_, err := n.AddScanner(ctx, operator, c.name, c.place)
		var e *node.Error
		if !errors.As(err, &e) || e.Code != node.EInvalid {
			t.Errorf("AddScanner(%q, %q) = %v, want invalid", c.name, c.place, err)
		}
	}
	if _, err := n.AddScanner(ctx, operator, "东门 1 号", "checkpoint"); err != nil {
		t.Fatalf("a plain name is refused: %v", err)
	}
	list, err := n.Scanners(ctx, operator)
	if err != nil || len(list) != 1 {
		t.Fatalf("scanners after the refusals: %d, %v; want only the plain one", len(list), err)
	}
}
