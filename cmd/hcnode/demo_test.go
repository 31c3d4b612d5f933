package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
)

// TestDemoRestartWithDataReusesItsTokens runs the demo twice on one data
// directory and checks that the second run hands out the same operator
// and scanner tokens as the first, and that they still work.
func TestDemoRestartWithDataReusesItsTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	first, c, err := startDemo(ctx, dir, true, log)
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	second, c2, err := startDemo(ctx, dir, true, log)
	if c2 != nil {
		defer c2.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range second.Provinces {
		if p.OperatorToken != first.Provinces[i].OperatorToken || p.ScannerToken != first.Provinces[i].ScannerToken {
			t.Errorf("%s: tokens changed across a restart", p.ID)
		}
		for tok, role := range map[string]node.Role{p.OperatorToken: node.RoleOperator, p.ScannerToken: node.RoleScanner} {
			got, err := c2.Nodes[i].Node.Authenticate(ctx, tok)
			if err != nil || got.Role != role {
				t.Errorf("%s: reused %s token: %v %v", p.ID, role, got.Role, err)
			}
			if role == node.RoleOperator && (!got.Admin || got.Account != "admin") {
				t.Errorf("%s: the demo's operator token is %q's, admin %v; want the admin account's", p.ID, got.Account, got.Admin)
			}
		}
	}
}

// TestDemoNATSRequiresCredentialsAndTheProvincesSync runs the demo and
// checks that its NATS refuses a client without credentials, and that
// every province, on its own account, still holds every other's keyset.
func TestDemoNATSRequiresCredentialsAndTheProvincesSync(t *testing.T) {
	ctx := context.Background()
	info, c, err := startDemo(ctx, t.TempDir(), true, slog.New(slog.DiscardHandler))
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	anon, err := federation.Connect(cctx, federation.ConnConfig{URLs: []string{info.NATS}, Federation: "demo"})
	if err == nil {
		anon.Close()
		t.Fatal("the demo's NATS let a client in without credentials")
	}
	if !errors.Is(err, federation.ErrAuthFailed) {
		t.Fatalf("anonymous connect: %v, want the credentials refused", err)
	}
	for i, d := range c.Nodes {
		testkit.WaitFor(t, 30*time.Second, 20*time.Millisecond, "peer keysets", func() error {
			s := d.Federation()
			if s == nil {
				return errors.New("no sync yet")
			}
			for _, p := range info.Provinces {
				if p.ID != info.Provinces[i].ID && d.Node.State().Keyset(p.ID) == nil {
					return fmt.Errorf("%s does not hold %s's keyset", info.Provinces[i].ID, p.ID)
				}
			}
			return nil
		})
	}
}
