package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// initToken finds the admin token in what 'hcnode init' printed.
var initToken = regexp.MustCompile(`admin token:\s+(\S+)`)

// cmdStartNode initialises a province node in $WORK/NAME and runs it, in
// this process, for the rest of the scenario, on a free port and without
// NATS. It sets $NODE_URL to the node's URL and $NODE_TOKEN to the
// operator token init printed.
//
//	startnode NAME
func cmdStartNode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: startnode NAME")
	}
	dir := ts.MkAbs(args[0])
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs([]string{"init", "--province", "440000", "--name", "Guangdong", "--data", dir, "--listen", "127.0.0.1:0"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		ts.Fatalf("init: %v\n%s", err, out.String())
	}
	m := initToken.FindStringSubmatch(out.String())
	if m == nil {
		ts.Fatalf("init printed no admin token:\n%s", out.String())
	}
	cfg, err := config.Load(filepath.Join(dir, "hcnode.yaml"))
	ts.Check(err)
	// No NATS: the node starts all the same and serves its own province.
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Listener: l})
	ts.Check(err)
	ts.Defer(func() {
		if err := d.Close(); err != nil {
			ts.Logf("closing node %s: %v", args[0], err)
		}
	})
	ts.Setenv("NODE_URL", d.URL)
	ts.Setenv("NODE_TOKEN", m[1])
}
