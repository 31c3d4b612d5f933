package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// initTokenLine is where 'hcnode init' prints the first admin's token.
var initTokenLine = regexp.MustCompile(`operator token: (hct_\S+)`)

// cmdStartNode initialises a province node in $WORK/NAME, as
// 'hcnode init --province 440000 --name Guangdong --data $WORK/NAME
// --listen 127.0.0.1:0' does, and serves it in this process for the rest
// of the scenario, on a free port, without NATS (its URL refuses
// connections, so the node runs on what it holds). It sets $NODE_URL to
// the node's URL and $NODE_TOKEN to the token init printed.
//
//	startnode NAME
func cmdStartNode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: startnode NAME")
	}
	dir := ts.MkAbs(args[0])
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs([]string{"init", "--province", "440000", "--name", "Guangdong", "--data", dir, "--listen", "127.0.0.1:0"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		ts.Fatalf("hcnode init: %v\n%s", err, errOut.String())
	}
	m := initTokenLine.FindStringSubmatch(out.String())
	if m == nil {
		ts.Fatalf("hcnode init printed no operator token:\n%s", out.String())
	}
	cfg, err := config.Load(filepath.Join(dir, "hcnode.yaml"))
	ts.Check(err)
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Listener: l})
	if err != nil {
		l.Close()
		ts.Fatalf("start node: %v", err)
	}
	ts.Defer(func() {
		if err := d.Close(); err != nil {
			ts.Logf("closing node %s: %v", args[0], err)
		}
	})
	ts.Setenv("NODE_URL", d.URL)
	ts.Setenv("NODE_TOKEN", m[1])
}

// cmdJSONField sets an environment variable to a top-level string field
// of the JSON the previous command printed, as an operator copies a
// token or an id from hcnode's output.
//
//	jsonfield VAR FIELD
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonfield VAR FIELD")
	}
	var v map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &v))
	s, ok := v[args[1]].(string)
	if !ok {
		ts.Fatalf("the last output has no string field %q", args[1])
	}
	ts.Setenv(args[0], s)
}
