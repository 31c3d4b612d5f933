package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerStartsAndClientConnects(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	u := s.ClientURL()
	_, port, err := net.SplitHostPort(u[len("nats://"):])
	if err != nil || port == "4222" || port == "0" {
		t.Fatalf("ClientURL %q: want a random port (err %v)", u, err)
	}
	c := connect(t, s, "440000")
	if !c.Connected() {
		t.Fatal("not connected")
	}
	if c.Province() != "440000" || c.Federation() != testFed {
		t.Fatalf("identity %s/%s", c.Federation(), c.Province())
	}
}

func TestStartServerRequiresStoreDir(t *testing.T) {
	t.Parallel()
	if _, err := StartServer(ServerConfig{Port: -1}); err == nil {
		t.Fatal("started without a store dir")
	}
}

func TestStartServerRefusesMissingConfigFile(t *testing.T) {
	t.Parallel()
	_, err := StartServer(ServerConfig{Port: -1, StoreDir: t.TempDir(), ConfigFile: filepath.Join(t.TempDir(), "missing.conf")})
	if err == nil {
		t.Fatal("started with a missing config file")
	}
}

func TestConnectGivesUpWhenNoServerListens(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	url := s.ClientURL()
	s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := Connect(ctx, ConnConfig{URLs: []string{url}, Federation: testFed})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a dead server: %v, want a deadline error", err)
	}
}

func TestConnectRefusesBadConfig(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, cfg := range []ConnConfig{
		{Federation: testFed},
		{URLs: []string{"nats://127.0.0.1:1"}, Federation: "Demo"},
		{URLs: []string{"nats://127.0.0.1:1"}, Federation: testFed, Province: "44000"},
	} {
		if _, err := Connect(ctx, cfg); err == nil {
			t.Errorf("Connect(%+v) succeeded", cfg)
		}
	}
}

func TestConnReconnectsAfterServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := runServerWith(t, ServerConfig{StoreDir: dir})
	c := connectReady(t, s, "440000")
	var seen recorder[StateUpdate]
	if err := c.WatchState(testCtx(t), seen.add); err != nil {
		t.Fatalf("WatchState: %v", err)
	}
	var revs recorder[RevocationMsg]
	if err := c.ConsumeRevocations(testCtx(t), 0, func(m RevocationMsg) error { revs.add(m); return nil }); err != nil {
		t.Fatalf("ConsumeRevocations: %v", err)
	}
	if _, err := c.PutState(testCtx(t), "440000.keyset", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishRevocation(testCtx(t), "440000", 1, []byte("r1")); err != nil {
		t.Fatal(err)
	}
	seen.waitLen(t, 1)
	revs.waitLen(t, 1)

	restartServer(t, s, dir, c)

	// JetStream state survived, and the watcher and consumer carry on.
	if _, err := c.PutState(testCtx(t), "440000.keyset", []byte("after")); err != nil {
		t.Fatalf("PutState after restart: %v", err)
	}
	if err := c.PublishRevocation(testCtx(t), "440000", 2, []byte("r2")); err != nil {
		t.Fatalf("PublishRevocation after restart: %v", err)
	}
	// Each carries on where it was: nothing missed, nothing repeated.
	got := seen.waitLen(t, 2)
	if len(got) != 2 || string(got[0].Value) != "before" || string(got[1].Value) != "after" {
		t.Fatalf("watcher got %+v across the restart", got)
	}
	rs := revs.waitLen(t, 2)
	if len(rs) != 2 || rs[1].StreamSeq != 2 || string(rs[1].Data) != "r2" {
		t.Fatalf("consumer got %+v across the restart", rs)
	}
}

// A client that subscribes and never reads makes the server hold what is
// sent to it, up to max_pending, before it cuts the client: nats-server's
// 64 MB default, times the 256 connections an account may hold, was
// 16 GB. The configuration nats-config and 'hcnode init' write, and an
// embedded server run without one, hold ServerMaxPending; a
// configuration's own max_pending is kept.
func TestServerHoldsServerMaxPendingForAClientThatDoesNotRead(t *testing.T) {
	t.Parallel()
	maxPending := func(s *Server) int64 {
		t.Helper()
		v, err := s.ns.Varz(nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.MaxPending
	}
	if got := maxPending(runServer(t)); got != ServerMaxPending {
		t.Errorf("embedded server without a configuration: max_pending %d, want %d", got, ServerMaxPending)
	}
	_, _, conf := writeGenerated(t, []string{gd, sh}, AccountsOptions{Federation: testFed})
	if opts, err := readServerConfig(conf); err != nil {
		t.Fatal(err)
	} else if opts.MaxPending != ServerMaxPending {
		t.Errorf("the generated configuration, as a nats-server of its own reads it: max_pending %d, want %d",
			opts.MaxPending, ServerMaxPending)
	}
	if got := maxPending(runServerWith(t, ServerConfig{ConfigFile: conf})); got != ServerMaxPending {
		t.Errorf("server running the generated configuration: max_pending %d, want %d", got, ServerMaxPending)
	}
	for _, shipped := range []string{demoConfig, "../configs/nats-accounts.example.conf", "../configs/cluster/nats-1.conf",
		"../configs/cluster/nats-2.conf", "../configs/cluster/nats-3.conf"} {
		// They read passwords from the environment: the line the
		// generated configuration, read above, carries.
		raw, err := os.ReadFile(shipped)
		if err != nil {
			t.Fatal(err)
		}
		if line := fmt.Sprintf("\nmax_pending: %dMB\n", ServerMaxPending>>20); !strings.Contains(string(raw), line) {
			t.Errorf("%s does not set %q", shipped, strings.TrimSpace(line))
		}
	}
	own := filepath.Join(t.TempDir(), "own.conf")
	if err := os.WriteFile(own, []byte("max_pending: 2MB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := maxPending(runServerWith(t, ServerConfig{ConfigFile: own})); got != 2<<20 {
		t.Errorf("server running a configuration that sets max_pending 2MB: %d, want it kept", got)
	}
}
