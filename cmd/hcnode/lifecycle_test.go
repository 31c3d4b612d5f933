package main

import (
	"github.com/hcfed/hcfed/node/config"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
)

// sunset without --yes says what it would delete (one of a kind in the
// singular) and deletes nothing;
// with --yes it says what it deletes, never "would", and deletes it.
func TestSunsetSaysWhatItWouldDeleteThenWhatItDeletes(t *testing.T) {
	n := startTestNode(t)
	useNode(t, n)
	if out, _, err := runCLI(t, "", "enrol", "--name", "张三", "--id-number", testkit.IDNumber("110105194912", 0), "--accept-notice", config.NoticeVersion); err != nil {
		t.Fatalf("enrol: %v %s", err, out)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "sunset", "--config", n.cfgPath)
	if err != nil || !strings.Contains(out, "would permanently delete:") || !strings.Contains(out, "Nothing was changed.") ||
		!strings.Contains(out, "  1 resident record (with their data keys), 1 consent record, 0 appeals\n") {
		t.Fatalf("sunset without --yes: %v\n%s", err, out)
	}
	out, err = run(t, "sunset", "--config", n.cfgPath, "--yes")
	if err != nil {
		t.Fatalf("sunset --yes: %v\n%s", err, out)
	}
	if strings.Contains(out, "would") || !strings.Contains(out, "Sunset of province 440000: permanently deleting\n") ||
		!strings.Contains(out, "\nDone: personal data and keys deleted") {
		t.Errorf("sunset --yes says:\n%s\nwant what it deletes, not what it would", out)
	}
	// It did, once: a second sunset, with --yes or without, has nothing
	// to do and keeps the counts of the first.
	for _, args := range [][]string{{"--yes"}, {}} {
		out, err = run(t, append([]string{"sunset", "--config", n.cfgPath}, args...)...)
		if err != nil || !strings.Contains(out, "Province 440000 was sunset at ") || strings.Contains(out, "would") ||
			!strings.Contains(out, ": nothing to do. It keeps the counts of what it deleted (1 resident record, 0 code records, 0 scanners)") {
			t.Errorf("sunset %v after sunset: %v\n%s", args, err, out)
		}
	}
}
