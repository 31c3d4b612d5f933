package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// testNode is a province node made by 'hcnode init' and run in this
// process, standalone: no trust list, and its NATS out of reach (it
// starts all the same and serves its own province).
type testNode struct {
	*daemon.Daemon
	cfgPath string // its config file, for the offline commands
	token   string // the admin token init printed
}

// startTestNode initialises province 440000 in a temporary directory and
// runs it until the test ends; the test may Close it earlier to run an
// offline command on its data directory.
func startTestNode(t *testing.T) testNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gd")
	out, err := run(t, "init", "--province", "440000", "--name", "Guangdong", "--data", dir, "--listen", "127.0.0.1:0")
	m := initToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "hcnode.yaml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	d := startDaemon(t, cfg)
	t.Cleanup(func() { _ = d.Close() })
	return testNode{Daemon: d, cfgPath: cfgPath, token: m[1]}
}

// startDaemon starts the node configured by cfg in this process, on a
// port chosen at start; the caller closes it.
func startDaemon(t *testing.T, cfg config.Config) *daemon.Daemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// useNode points the client commands (--url, --token) at n.
func useNode(t *testing.T, n testNode) {
	t.Setenv("HCNODE_URL", n.URL)
	t.Setenv("HCNODE_TOKEN", n.token)
}
