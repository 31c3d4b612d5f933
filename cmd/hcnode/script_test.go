package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
)

// TestMain lets the test binary run as hcnode inside the scenarios.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"hcnode": main})
}

// TestScripts runs the operator workflows in testdata/script, each in a
// fresh directory, with the real hcnode binary (this test binary) and,
// where a scenario asks for one with 'natsserver', a real NATS server.
func TestScripts(t *testing.T) {
	// The shipped NATS configuration reads its users' passwords from the
	// environment when 'natsserver -shipped' starts it in this process.
	for _, user := range shippedNATSUsers {
		t.Setenv("HCFED_NATS_"+strings.ToUpper(user)+"_PASSWORD", rand.Text())
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// A race-detector build sleeps a second at exit by default,
			// which a scenario running hcnode fifty times can do without.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			// The notice version residents consent to is this build's,
			// named in one place (config.NoticeVersion).
			env.Setenv("NOTICE", config.NoticeVersion)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"natsserver": cmdNATSServer,
			"sha256":     cmdSHA256,
			"expandenv":  cmdExpandEnv,
			"startnode":  cmdStartNode, "jsonvar": cmdJSONVar, "regexpvar": cmdRegexpVar,
		},
	})
}

// cmdExpandEnv replaces $VAR and ${VAR} in FILE with the scenario's
// variables, so that a file of the archive can hold $NOTICE.
//
//	expandenv FILE
func cmdExpandEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: expandenv FILE")
	}
	name := ts.MkAbs(filepath.FromSlash(args[0]))
	b, err := os.ReadFile(name)
	ts.Check(err)
	ts.Check(os.WriteFile(name, []byte(os.Expand(string(b), ts.Getenv)), 0o644))
}

// shippedConfig is the NATS server configuration shipped for the demo
// federation, and shippedNATSUsers its users.
const shippedConfig = "../../configs/nats-server.conf"

var shippedNATSUsers = []string{"operator", "440000", "310000", "110000"}

// cmdNATSServer starts an embedded NATS server with JetStream for the
// rest of the scenario and sets $NATS_URL to its client URL. With
// -shipped it runs configs/nats-server.conf (federation "demo", a user
// per province and one for the operator, with their permissions) and
// sets $NATS_<USER>_PASSWORD for each user (NATS_OPERATOR_PASSWORD,
// NATS_440000_PASSWORD...).
//
//	natsserver [-shipped]
func cmdNATSServer(ts *testscript.TestScript, neg bool, args []string) {
	shipped := len(args) == 1 && args[0] == "-shipped"
	if neg || (len(args) != 0 && !shipped) {
		ts.Fatalf("usage: natsserver [-shipped]")
	}
	cfg := federation.ServerConfig{Host: "127.0.0.1", Port: -1, StoreDir: ts.MkAbs(".nats"), Name: "hcnode-script"}
	if shipped {
		conf, err := filepath.Abs(shippedConfig)
		ts.Check(err)
		cfg.ConfigFile = conf
		for _, user := range shippedNATSUsers {
			name := strings.ToUpper(user) + "_PASSWORD"
			ts.Setenv("NATS_"+name, os.Getenv("HCFED_NATS_"+name))
		}
	}
	srv, err := federation.StartServer(cfg)
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
