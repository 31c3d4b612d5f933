package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
)

// TestDemoRestartWithDataReusesItsTokens runs the demo twice on one data
// directory and checks that the second run hands out the same admin
// and scanner tokens as the first, and that they still work. demo.json
// names the admin's token admin_token, and operator_token too for the
// scripts written before; the second run starts from a demo.json an
// earlier build wrote, with operator_token only.
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
	saved, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Provinces []map[string]any }
	if err := json.Unmarshal(saved, &raw); err != nil || len(raw.Provinces) != 3 {
		t.Fatalf("demo.json: %v\n%s", err, saved)
	}
	for i, p := range raw.Provinces {
		if tok := first.Provinces[i].AdminToken; tok == "" || p["admin_token"] != tok || p["operator_token"] != tok {
			t.Errorf("demo.json %v: admin_token %v, operator_token %v; want both the admin's token", p["id"], p["admin_token"], p["operator_token"])
		}
		delete(p, "admin_token") // as an earlier build wrote it
	}
	if saved, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.json"), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	second, c2, err := startDemo(ctx, dir, true, log)
	if c2 != nil {
		defer c2.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range second.Provinces {
		if p.AdminToken != first.Provinces[i].AdminToken || p.ScannerToken != first.Provinces[i].ScannerToken {
			t.Errorf("%s: tokens changed across a restart", p.ID)
		}
		for tok, role := range map[string]node.Role{p.AdminToken: node.RoleOperator, p.ScannerToken: node.RoleScanner} {
			got, err := c2.Nodes[i].Node.Authenticate(ctx, tok)
			if err != nil || got.Role != role {
				t.Errorf("%s: reused %s token: %v %v", p.ID, role, got.Role, err)
			}
			if role == node.RoleOperator && (!got.Admin || got.Account != "admin") {
				t.Errorf("%s: the demo's admin token is %q's, admin %v; want the admin account's", p.ID, got.Account, got.Admin)
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

// TestDemoServesAndPrintsMetricsOnListenersOfTheirOwn: each demo province
// serves /metrics on a loopback listener of its own, as a node init made
// does, answers it 404 on its public URL, and the demo prints, and
// writes to demo.json, where each province's metrics are.
func TestDemoServesAndPrintsMetricsOnListenersOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	info, c, err := startDemo(context.Background(), dir, true, slog.New(slog.DiscardHandler))
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printDemo(&out, dir, info)
	for _, p := range info.Provinces {
		if !strings.HasPrefix(p.MetricsURL, "http://127.0.0.1:") || strings.HasPrefix(p.MetricsURL, p.URL) {
			t.Errorf("%s: metrics at %q, want a loopback listener other than %s", p.ID, p.MetricsURL, p.URL)
		}
		if !strings.Contains(out.String(), "    metrics: "+p.MetricsURL+" (this machine only)\n") {
			t.Errorf("%s: the demo does not print its metrics URL %s:\n%s", p.ID, p.MetricsURL, out.String())
		}
		for url, want := range map[string]int{p.MetricsURL: http.StatusOK, p.URL + "/metrics": http.StatusNotFound} {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s: GET %s: %d, want %d", p.ID, url, resp.StatusCode, want)
			}
		}
	}
	if saved := readDemoInfo(filepath.Join(dir, "demo.json")); len(saved.Provinces) != 3 || saved.Provinces[0].MetricsURL != info.Provinces[0].MetricsURL {
		t.Errorf("demo.json: %+v, want the metrics URLs", saved.Provinces)
	}
}
