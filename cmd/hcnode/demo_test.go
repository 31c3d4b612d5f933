package main

import (
	"context"
	"log/slog"
	"testing"

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
