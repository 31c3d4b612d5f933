package daemon_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// TestEmbeddedNATSWithAccountsRefusesAnonymousAndTheNodeConnects starts a
// node with the embedded NATS 'hcnode init' configures: one account per
// province and NKey users. The node sets its account up, connects with
// its seed and gets as far as syncing; a client without credentials is
// refused.
func TestEmbeddedNATSWithAccountsRefusesAnonymousAndTheNodeConnects(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default("440000")
	cfg.Name, cfg.DataDir, cfg.NATS.Listen = "Guangdong", filepath.Join(t.TempDir(), "gd"), "127.0.0.1:0"
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := daemon.UseEmbeddedAccounts(&cfg, []string{"440000", "310000"}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitFor(t, "the node's federation sync", func() error {
		if d.Federation() == nil {
			return errors.New("not started")
		}
		return nil
	})
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	anon, err := federation.Connect(cctx, federation.ConnConfig{URLs: []string{d.NATSURL()}, Federation: cfg.Federation})
	if err == nil {
		anon.Close()
		t.Fatal("the embedded NATS let a client in without credentials")
	}
	if !errors.Is(err, federation.ErrAuthFailed) {
		t.Fatalf("anonymous connect: %v, want the credentials refused", err)
	}
}
