package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// TestDemoRestartKeepsALaterTrustListQuietly publishes trust list v2 in a
// running demo, restarts the demo on the same data directory and checks
// that v2 stays in force: the state bucket still holds v2 (the restart
// used to put the first list back, which every node refused as a
// rollback and warned about), every node holds v2, and no node logged a
// rollback.
func TestDemoRestartKeepsALaterTrustListQuietly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, c, err := startDemo(ctx, dir, true, slog.New(slog.DiscardHandler))
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	held := c.Nodes[0].Node.State().TrustList()
	next, err := trust.Propose(held.TrustList, []trust.Change{{Op: "expires", Duration: 60 * 24 * time.Hour}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.Sign(next, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PublishTrustList(ctx, v2); err != nil {
		t.Fatal(err)
	}
	waitDemoVersion(t, c.Nodes, 2)
	c.Close()

	logs := &testkit.Buffer{}
	_, c2, err := startDemo(ctx, dir, true, slog.New(slog.NewJSONHandler(logs, nil)))
	if c2 != nil {
		defer c2.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	published, err := c2.PublishedTrustList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(published, v2) {
		t.Errorf("after the restart the state bucket holds another list than v2 (%d bytes)", len(published))
	}
	waitDemoVersion(t, c2.Nodes, 2)
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"rollback"`) {
			var l map[string]any
			_ = json.Unmarshal([]byte(line), &l)
			t.Errorf("restart logged a rollback: %v %v", l["msg"], l["self"])
		}
	}
}

// waitDemoVersion waits until every node holds trust list version v.
func waitDemoVersion(t *testing.T, nodes []*daemon.Daemon, v uint64) {
	t.Helper()
	for _, d := range nodes {
		testkit.WaitFor(t, 30*time.Second, 20*time.Millisecond, fmt.Sprintf("%s holding v%d", d.Node.Province(), v), func() error {
			if got := d.Node.State().TrustList().Version; got != v {
				return fmt.Errorf("holds v%d", got)
			}
			return nil
		})
	}
}
