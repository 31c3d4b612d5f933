package federation

import (
	"context"
	"errors"
	"net"
	"path/filepath"
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
