package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
)

// A resident deleted by the retention pass is forgotten as one who deletes
// their own record is: their resident token, resolved a second before and
// still cached, is refused at once, and the QR image of their code (which
// expired unrevoked, so no revocation dropped it) leaves memory.
func TestRetentionDeletionForgetsTheResidentsCachedTokenAndQRImages(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startNodeAt(t, clock)
	n := d.Node
	ctx := context.Background()
	e := enrol(t, n, 1)
	resident := node.Principal{Role: node.RoleResident, SubjectID: e.ID}
	code, err := n.IssueCode(ctx, resident, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CodeQR(ctx, resident, code.JTI); err != nil || node.QRCached(n) != 1 {
		t.Fatalf("QR: %v, %d cached; want 1", err, node.QRCached(n))
	}
	clock.Add(n.Settings().Privacy.Retention.Subjects - time.Second)
	if p, err := n.Authenticate(ctx, e.ResidentToken); err != nil || p.SubjectID != e.ID {
		t.Fatalf("resident token before retention: %+v, %v", p, err)
	}
	clock.Add(time.Second)
	r, err := n.Retain(ctx)
	if err != nil || r.Subjects != 1 {
		t.Fatalf("retention pass: %+v, %v; want one subject deleted", r, err)
	}
	if p, err := n.Authenticate(ctx, e.ResidentToken); err == nil {
		t.Fatalf("the token of a resident deleted by retention still authenticates as %+v", p)
	}
	if got := node.QRCached(n); got != 0 {
		t.Fatalf("%d QR images of a resident deleted by retention still cached, want 0", got)
	}
}
