package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// TestCheckFailsAsServeRefusesAMissingEmbeddedNATSConfig: a node whose
// data directory lacks the nats-accounts that init wrote (a node moved or
// restored into a directory of its own) is a FAIL naming the setting, the
// file and what to copy, and serve refuses in the same words before it
// opens anything. Before, check said "ok  nats: embedded server" and
// serve stopped with nats-server's "open …: no such file or directory".
func TestCheckFailsAsServeRefusesAMissingEmbeddedNATSConfig(t *testing.T) {
	for _, tc := range []struct{ file, setting string }{
		{"nats-server.conf", "nats.server_config"},
		{"440000.nk", "nats.nkey_seed_file"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir, cfgPath := initCheckNode(t)
			f := filepath.Join(dir, "nats-accounts", tc.file)
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			requireCheckFailsAsServe(t, dir, cfgPath, "nats", tc.setting+": "+f+" is missing: it is the embedded NATS "+
				"server's, which 'hcnode init' wrote into the data directory ("+filepath.Join(dir, "nats-accounts"))
		})
	}
}

// TestServeLogsAStopAsItsLastLine: serve stopped by its signal (here its
// context) ends its log with "stopped cleanly", so that staff tell a clean
// stop from a crash or a kill; before, the log ended at "shutting down"
// and nats-server's own lines.
func TestServeLogsAStopAsItsLastLine(t *testing.T) {
	_, cfgPath := initCheckNode(t)
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1") // no NATS needed to start and stop
	t.Setenv("HCNODE_NATS_EMBEDDED", "false")
	var out testkit.Buffer
	root := newRoot(&out, &out)
	root.SetArgs([]string{"serve", "--config", cfgPath})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	testkit.WaitFor(t, 10*time.Second, 10*time.Millisecond, "the node to start", testkit.Holds(func() bool {
		return strings.Contains(out.String(), `"msg":"node started"`)
	}))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve stopped with %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, `"msg":"stopped cleanly"`) || !strings.Contains(last, `"took":`) {
		t.Fatalf("serve's last log line is %s, want \"stopped cleanly\" with how long it took", last)
	}
}
