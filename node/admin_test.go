package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/store"
)

// The node itself, not only its HTTP API, refuses an operator account
// the province-wide operations — the signing keys, the next root key,
// verifier replicas — so that every caller (the API, the console, the
// CLI through the API, the daemon) gets one answer: admin_required,
// naming what needs an admin, audited under the account, and nothing
// changed. An admin account may.
func TestProvinceWideOperationsNeedAnAdminAccount(t *testing.T) {
	d := startNode(t)
	n, ctx := d.Node, context.Background()
	adm := admin(t, n)
	clerk := node.Principal{Role: node.RoleOperator, AccountID: "ac_clerk", Account: "clerk"}
	keys, err := n.Keys(clerk)
	if err != nil {
		t.Fatalf("an operator lists the keys: %v", err)
	}
	kid := keys[0].KID
	if _, err := n.Replicas().Add(ctx, adm, "r1"); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name, action string
		call         func(p node.Principal) error
	}{
		{"rotate the keys", "key.rotate", func(p node.Principal) error { return n.RotateKeys(ctx, p) }},
		{"make the next root key", "key.root_next", func(p node.Principal) error { _, err := n.RotateRoot(ctx, p); return err }},
		{"add a replica", "replica.add", func(p node.Principal) error { _, err := n.Replicas().Add(ctx, p, "r2"); return err }},
		{"confirm a replica's keys", "replica.confirm", func(p node.Principal) error {
			_, err := n.Replicas().Confirm(ctx, p, "r1", strings.Repeat("A", 32))
			return err
		}},
		{"remove a replica", "replica.remove", func(p node.Principal) error { return n.Replicas().Remove(ctx, p, "r1") }},
		{"compromise a key", "key.compromise", func(p node.Principal) error { return n.CompromiseKey(ctx, p, kid) }},
	}
	for _, op := range ops {
		err := op.call(clerk)
		if node.ErrorCodeOf(err) != node.EAdminRequired || !strings.Contains(node.ErrorMessageOf(err), "only an admin account may") {
			t.Errorf("an operator may %s: %v, want admin_required", op.name, err)
		}
		if got := refusals(t, d.DB, op.action); got != 1 {
			t.Errorf("%s refused: %d admin.refused entries naming it by operator:clerk, want 1", op.name, got)
		}
	}
	if after, _ := n.Keys(clerk); after[0].KID != kid || after[0].State != "active" {
		t.Fatalf("the keys after the operator's tries: %+v, want %s still active", after, kid)
	}
	if rs, _ := n.Replicas().List(ctx, clerk); len(rs) != 1 || rs[0].Name != "r1" {
		t.Fatalf("the replicas after the operator's tries: %+v, want r1 alone", rs)
	}
	for _, op := range ops {
		if err := op.call(adm); err != nil {
			t.Errorf("an admin may %s: %v", op.name, err)
		}
	}
}

// refusals counts the admin.refused audit entries of operator:clerk
// asking for action.
func refusals(t *testing.T, db *store.DB, action string) int {
	t.Helper()
	es, err := db.AuditEntries(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == "admin.refused" && e.Target == action && e.Actor == "operator:clerk" {
			n++
		}
	}
	return n
}
