package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hcfed/hcfed/federation"
)

// TestMain lets the test binary run as hcnode inside the scenarios.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"hcnode": main})
}

// TestScripts runs the operator workflows in testdata/script, each in a
// fresh directory, with the real hcnode binary (this test binary) and,
// where a scenario asks for one with 'natsserver', a real NATS server.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// A race-detector build sleeps a second at exit by default,
			// which a scenario running hcnode fifty times can do without.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"natsserver": cmdNATSServer,
			"sha256":     cmdSHA256,
			"startnode":  cmdStartNode,
			"jsonfield":  cmdJSONField,
		},
	})
}

// cmdNATSServer starts an embedded NATS server with JetStream for the
// rest of the scenario and sets $NATS_URL to its client URL.
//
//	natsserver
func cmdNATSServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: natsserver")
	}
	srv, err := federation.StartServer(federation.ServerConfig{Host: "127.0.0.1", Port: -1,
		StoreDir: ts.MkAbs(".nats"), Name: "hcnode-script"})
	ts.Check(err)
	ts.Defer(srv.Shutdown)
	ts.Setenv("NATS_URL", srv.ClientURL())
}

// cmdSHA256 sets an environment variable to the hex SHA-256 of a file,
// as an operator computes the hash nodes pin (trust.list_sha256).
//
//	sha256 VAR FILE
func cmdSHA256(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sha256 VAR FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(filepath.FromSlash(args[1])))
	ts.Check(err)
	sum := sha256.Sum256(b)
	ts.Setenv(args[0], hex.EncodeToString(sum[:]))
}
