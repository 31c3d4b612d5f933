package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/datadir"
)

// TestBreakGlassBesideARunningNode: a node whose only admin token
// expires in two days warns so at start, in its metrics and in 'hcnode
// check'; a break-glass token minted beside it (its data directory
// locked by the node) works at the node's next request, is audited as
// such, and the audit chain stays whole as the node appends after it.
// Once every admin token has expired, check says none is valid.
func TestBreakGlassBesideARunningNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := standaloneConfig(t)
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.Tokens.OperatorLifetime = 48 * time.Hour
	d, logs := startStandalone(t, cfg)

	if !strings.Contains(logs.String(), `"msg":"admin tokens: the last admin token (of 1 valid) expires at `) {
		t.Errorf("the start did not warn of the last admin token's expiry:\n%s", logs.String())
	}
	m := regexp.MustCompile(`(?m)^hcfed_admin_token_expires_in_seconds (\S+)$`)
	_, body := httpDo(t, "GET", d.MetricsURL, "", nil)
	got := m.FindStringSubmatch(body)
	if got == nil {
		t.Fatalf("no hcfed_admin_token_expires_in_seconds in the metrics")
	}
	if v, err := strconv.ParseFloat(got[1], 64); err != nil || v < 47*3600 || v > 48*3600 {
		t.Errorf("hcfed_admin_token_expires_in_seconds = %s, want about 48h", got[1])
	}

	r, err := daemon.OpenRecovery(ctx, cfg, "account recover-admin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !strings.HasPrefix(r.Beside, "hcnode serve (pid ") {
		t.Errorf("Beside = %q, want the running node", r.Beside)
	}
	bg := node.BreakGlass{Account: node.AccountAdmin, By: "ops.lead", OSUser: "hcnode", SudoUser: "li.na", Host: "gd-1"}
	tok, err := r.Mint(ctx, bg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Node.Authenticate(ctx, tok.Token)
	if err != nil || !p.Admin || p.Account != "admin" || p.TokenID != tok.TokenID {
		t.Fatalf("the running node resolves the break-glass token to %+v, %v; want admin's %s", p, err, tok.TokenID)
	}
	// The node writes after it, with the new token: the chain holds.
	if _, err := d.Node.CreateAccount(ctx, p, "zhao.lei", node.AccountAdmin, ""); err != nil {
		t.Fatal(err)
	}
	entries, err := d.DB.AuditEntries(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range entries {
		if e.Action != node.ActionBreakGlass {
			continue
		}
		found = true
		var detail map[string]any
		if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
			t.Fatal(err)
		}
		if e.Actor != "break-glass:ops.lead" || e.Target != tok.AccountID || detail["token"] != tok.TokenID ||
			detail["os_user"] != "hcnode" || detail["sudo_user"] != "li.na" || detail["host"] != "gd-1" ||
			detail["expires"] != float64(tok.Expires.Unix()) || detail["account_created"] != false {
			t.Errorf("break-glass audit entry %+v", e)
		}
		if time.Since(e.Time) > time.Minute {
			t.Errorf("break-glass audit entry at %v, want now", e.Time)
		}
	}
	if !found {
		t.Fatalf("no %s entry in the audit log: %+v", node.ActionBreakGlass, entries)
	}
	if n, err := d.DB.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain after a break-glass beside the node: %d good entries, %v", n, err)
	}

	// check, beside the running node: warned within a week, and once
	// every admin token has expired, told none is valid.
	cfgPath := filepath.Join(t.TempDir(), "hcnode.yaml")
	y := "province: \"440000\"\ndata_dir: " + cfg.DataDir + "\nlisten: 127.0.0.1:0\nnats:\n  embedded: false\n  urls: [\"nats://127.0.0.1:1\"]\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after time.Duration
		want  string
	}{
		{0, "warn  admin tokens: the last admin token (of 3 valid) expires at "},
		{49 * time.Hour, "warn  admin tokens: NO admin token is valid: the last expired at "},
	} {
		at := time.Now().Add(c.after)
		rep := daemon.Check(ctx, cfgPath, daemon.CheckOptions{Now: func() time.Time { return at }, NATSTimeout: time.Millisecond})
		var line string
		for _, f := range rep {
			if f.What == "admin tokens" {
				line = f.String()
			}
		}
		if !strings.HasPrefix(line, c.want) || !strings.Contains(line, "hcnode account recover-admin") {
			t.Errorf("check %v on: %q, want it to start %q and name recover-admin", c.after, line, c.want)
		}
	}
}

// TestBreakGlassOnAStoppedNodeAndBesideAnotherCommand: with no node
// running, a break-glass takes the data directory's lock (a node cannot
// start meanwhile) and may make a new admin account; beside a command
// other than serve (a restore, a sunset) it is refused, naming it.
func TestBreakGlassOnAStoppedNodeAndBesideAnotherCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := standaloneConfig(t)
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := daemon.OpenRecovery(ctx, cfg, "account recover-admin")
	if err != nil {
		t.Fatal(err)
	}
	if r.Beside != "" {
		t.Errorf("Beside = %q with no node running", r.Beside)
	}
	if _, err := datadir.Acquire(cfg.DataDir, "serve"); !errors.Is(err, datadir.ErrLocked) {
		t.Errorf("a node could start during a break-glass: %v", err)
	}
	tok, err := r.Mint(ctx, node.BreakGlass{Account: "chen.jie", By: "ops.lead", OSUser: "hcnode", Host: "gd-1"}, time.Now())
	if err != nil || tok.Account != "chen.jie" || tok.Role != node.AccountAdmin {
		t.Fatalf("Mint for a new account = %+v, %v", tok, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	lock, err := datadir.Acquire(cfg.DataDir, "restore")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	_, err = daemon.OpenRecovery(ctx, cfg, "account recover-admin")
	if !errors.Is(err, datadir.ErrLocked) || !strings.Contains(err.Error(), "hcnode restore (pid ") {
		t.Fatalf("break-glass beside a restore: %v, want it refused naming the restore", err)
	}
}
