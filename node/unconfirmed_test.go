package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/store"
)

// A resident held since a restore (a revocation published after the
// backup names their code) is refused every kind of code, phone or
// paper, with status_unconfirmed, and their own deletion with
// status_held: green in the restored database, they may be red, and
// their record is what refuses a second enrolment of their ID number.
// Before, both went through on the backup's green. An operator's
// deletion still does.
func TestHeldResidentGetsNoCodeAndCannotDeleteTheirOwnRecord(t *testing.T) {
	ctx := context.Background()
	d := startNode(t)
	n := d.Node
	e := enrol(t, n, 1)
	resident := node.Principal{Role: node.RoleResident, SubjectID: e.ID}
	c, err := n.IssueCode(ctx, resident, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	last, err := d.DB.LastRevocationSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB.AdoptPublished(ctx, []store.Published{{Seq: last + 1,
		Entries: []store.RevocationEntry{{JTI: c.JTI, Expires: c.Expires}}}}, time.Now()); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		p     node.Principal
		paper bool
	}{{"phone, by the resident", resident, false}, {"phone, by an operator", operator, false}, {"paper", operator, true}} {
		if _, err := n.IssueCode(ctx, tc.p, e.ID, tc.paper); node.ErrorCodeOf(err) != node.EStatusUnconfirmed {
			t.Errorf("%s code for a held resident: %v, want %s", tc.name, err, node.EStatusUnconfirmed)
		}
	}
	if err := n.DeleteSubject(ctx, resident, e.ID); node.ErrorCodeOf(err) != node.EStatusHeld {
		t.Errorf("a held resident's own deletion: %v, want %s", err, node.EStatusHeld)
	}
	if err := n.DeleteSubject(ctx, operator, e.ID); err != nil {
		t.Errorf("an operator's deletion of a held resident: %v", err)
	}
}
