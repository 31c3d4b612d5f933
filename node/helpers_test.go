package node_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// operator is the principal the API hands an operator token's holder.
var operator = node.Principal{Role: node.RoleOperator}

// startNode starts one province node the way 'hcnode serve' does — real
// SQLite file in a temporary directory, HTTP on a random loopback port —
// and stops it when the test ends.
func startNode(tb testing.TB, mutate ...func(*config.Config)) *daemon.Daemon {
	tb.Helper()
	return startNodeWith(tb, daemon.Options{}, mutate...)
}

// startNodeWith is startNode with opts (its listener and tick set here).
func startNodeWith(tb testing.TB, opts daemon.Options, mutate ...func(*config.Config)) *daemon.Daemon {
	tb.Helper()
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(tb.TempDir(), "440000")
	cfg.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	for _, m := range mutate {
		m(&cfg)
	}
	ctx := context.Background()
	if _, err := daemon.Init(ctx, cfg); err != nil {
		tb.Fatalf("init: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opts.Listener, opts.TickEvery = l, time.Hour
	d, err := daemon.Start(ctx, cfg, opts)
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return d
}

// enrol enrols the i-th test resident and returns their id and token.
func enrol(tb testing.TB, n *node.Node, i int) node.Enrolled {
	tb.Helper()
	e, err := n.Enrol(context.Background(), operator, node.Enrolment{
		Name: "张三", IDNumber: idNumber(i),
		Consent: node.ConsentInput{NoticeVersion: n.Settings().Privacy.NoticeVersion, Accepted: true}})
	if err != nil {
		tb.Fatalf("enrol: %v", err)
	}
	return e
}

// idNumber makes a distinct resident identity number with a valid GB 11643
// check character.
func idNumber(i int) string { return testkit.IDNumber("110105194912", i) }
