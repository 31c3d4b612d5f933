package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/store"
)

// run runs hcnode with args in-process and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestOneProcessPerDataDirectory starts a node and checks that a second
// serve, sunset (even with --yes), offline verify and audit verify on
// the same data directory each refuse with the lock error, and that
// sunset changed nothing.
func TestOneProcessPerDataDirectory(t *testing.T) {
	d := startTestNode(t)
	cfgPath := d.cfgPath
	keysBefore := countKeys(t, d.DB)

	for _, args := range [][]string{
		{"serve", "--config", cfgPath},
		{"sunset", "--config", cfgPath, "--yes"},
		{"verify", "--config", cfgPath, "HCF1:x"},
		{"audit", "verify", "--config", cfgPath},
	} {
		out, err := run(t, args...)
		if !errors.Is(err, datadir.ErrLocked) || !strings.Contains(err.Error(), "hcnode serve (pid") {
			t.Errorf("%s beside a running node: got %v (output %q), want the lock error naming the node", args[0], err, out)
		}
		if strings.Contains(out, "Done") {
			t.Errorf("%s did something: %q", args[0], out)
		}
	}
	if got := countKeys(t, d.DB); got != keysBefore || got == 0 {
		t.Fatalf("keys after refused sunset: %d, before %d", got, keysBefore)
	}
	// Once the node has stopped, the offline commands run.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "audit", "verify", "--config", cfgPath); err != nil || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify on the stopped node: %v %q", err, out)
	}
}

func countKeys(t *testing.T, db *store.DB) int {
	t.Helper()
	c, err := node.SunsetPlan(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return c.Keys
}
