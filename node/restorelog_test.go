package node_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/daemon"
)

// TestRemovalsARestoreUndoesAreLoggedByIDAtInfo: a restore from a backup
// taken before a scanner or replica was removed, an operator token
// revoked or an account disabled brings it back, and its audit entry is
// gone with the database; the node's log is where the operator finds
// what to do again. Each removal is logged at info with its ids, and no
// name (a member of staff's, a device's) is in the log.
func TestRemovalsARestoreUndoesAreLoggedByIDAtInfo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logs := &testkit.Buffer{}
	d := startNodeWith(t, daemon.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	n := d.Node
	admin := node.Principal{Role: node.RoleOperator, Admin: true, Account: "admin"}

	sc, err := n.AddScanner(ctx, admin, "gate-secret-name", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveScanner(ctx, admin, sc.ID); err != nil {
		t.Fatal(err)
	}
	rp, err := n.Replicas().Add(ctx, admin, "replica-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Replicas().Remove(ctx, admin, rp.ID); err != nil {
		t.Fatal(err)
	}
	acc, err := n.CreateAccount(ctx, admin, "li.na", node.AccountOperator, "desk")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RevokeAccountToken(ctx, admin, "li.na", acc.TokenID); err != nil {
		t.Fatal(err)
	}
	if err := n.DisableAccount(ctx, admin, "li.na"); err != nil {
		t.Fatal(err)
	}

	want := map[string]map[string]string{
		node.LogScannerRemoved:       {"scanner": sc.ID},
		node.LogReplicaRemoved:       {"replica": rp.ID},
		node.LogOperatorTokenRevoked: {"account": acc.AccountID, "token_id": acc.TokenID},
		node.LogAccountDisabled:      {"account": acc.AccountID},
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		fields, ok := want[rec["msg"].(string)]
		if !ok {
			continue
		}
		delete(want, rec["msg"].(string))
		if rec["level"] != "INFO" {
			t.Errorf("%s logged at %v, want INFO", rec["msg"], rec["level"])
		}
		for k, v := range fields {
			if rec[k] != v {
				t.Errorf("%s: %s = %v, want %s", rec["msg"], k, rec[k], v)
			}
		}
	}
	for msg := range want {
		t.Errorf("no %q line in the log", msg)
	}
	for _, name := range []string{"li.na", "gate-secret-name", "admin:admin"} {
		if strings.Contains(logs.String(), name) {
			t.Errorf("the log names %q", name)
		}
	}
}
