package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// A New that fails part way leaves no audit-log writer running: the
// writer starts only once nothing in New can fail. The clock cancels
// New's context the first time it is read, so New fails at its first
// database read after that (its own revocations), past the point where
// the writer used to start.
func TestFailedNewLeavesNoAuditWriterRunning(t *testing.T) {
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(t.TempDir(), "440000")
	if _, err := daemon.Init(context.Background(), cfg); err != nil {
		t.Fatalf("init: %v", err)
	}
	kek, err := seal.LoadKEK(cfg.KEKPath())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), cfg.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	before := auditWriters()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := func() time.Time { cancel(); return time.Now() }
	if n, err := node.New(ctx, node.Config{DB: db, KEK: kek, Settings: cfg, Now: now}); err == nil {
		n.Close()
		t.Fatal("New succeeded with its context cancelled")
	}
	testkit.WaitFor(t, 5*time.Second, 10*time.Millisecond, "no audit writer left by the failed New", func() error {
		if n := auditWriters(); n != before {
			return fmt.Errorf("%d audit writers running, %d before New", n, before)
		}
		return nil
	})
}

// auditWriters counts the goroutines running an audit log's writer loop.
func auditWriters() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "node.(*auditor).loop")
		}
		buf = make([]byte, 2*len(buf))
	}
}
