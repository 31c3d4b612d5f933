package node_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// A resident reloading their code's QR is served the image rendered the
// first time: no second unseal and encode (10,000 reloads, 1 encode).
// Revoking the code by a status change, or deleting the resident, drops
// it from the cache, and the QR is refused from then on.
func TestQRIsRenderedOnceAndDroppedOnRevocationAndDeletion(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	e := enrol(t, n, 1)
	resident := node.Principal{Role: node.RoleResident, SubjectID: e.ID}
	code, err := n.IssueCode(ctx, resident, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	first, err := n.CodeQR(ctx, resident, code.JTI)
	if err != nil {
		t.Fatal(err)
	}
	for range 10_000 {
		again, err := n.CodeQR(ctx, resident, code.JTI)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("reload: %v (same image: %v)", err, bytes.Equal(again, first))
		}
	}
	if got := node.QRRenders(n); got != 1 {
		t.Fatalf("%d encodes for 10,001 renders of one code, want 1", got)
	}
	other := enrol(t, n, 2)
	if _, err := n.CodeQR(ctx, node.Principal{Role: node.RoleResident, SubjectID: other.ID}, code.JTI); err == nil {
		t.Fatal("another resident was served a cached QR")
	}

	if err := n.SetStatus(ctx, operator, e.ID, "red", "test"); err != nil {
		t.Fatal(err)
	}
	if got := node.QRCached(n); got != 0 {
		t.Fatalf("%d images cached after the code was revoked, want 0", got)
	}
	if _, err := n.CodeQR(ctx, resident, code.JTI); err == nil {
		t.Fatal("a revoked code's QR was served")
	}

	fresh, err := n.IssueCode(ctx, resident, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CodeQR(ctx, resident, fresh.JTI); err != nil || node.QRCached(n) != 1 {
		t.Fatalf("new code: %v, %d cached", err, node.QRCached(n))
	}
	// An operator's deletion: a red resident's own is refused (status_held).
	if err := n.DeleteSubject(ctx, operator, e.ID); err != nil {
		t.Fatal(err)
	}
	if got := node.QRCached(n); got != 0 {
		t.Fatalf("%d images cached after the resident was deleted, want 0", got)
	}
}

// BenchmarkCodeQR is a resident's phone reloading its QR image: with the
// cache, a database read and an authorisation check.
func BenchmarkCodeQR(b *testing.B) {
	n := startNode(b).Node
	ctx := context.Background()
	e := enrol(b, n, 1)
	code, err := n.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.CodeQR(ctx, operator, code.JTI); err != nil {
			b.Fatal(err)
		}
	}
}

// A paper code is printed at a service point for a resident without a
// phone: its image is the operator's to print (qr.png, paper.png), not
// the resident's. A wallet link — or whoever found the phone holding it —
// that learns a paper code's id must not get a copy of a code valid for
// the paper lifetime, which replacing the wallet link does not revoke.
// The refusal reads as an unknown code's, word for word.
func TestAResidentIsNotServedTheirPaperCodesQR(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	e := enrol(t, n, 1)
	resident := node.Principal{Role: node.RoleResident, SubjectID: e.ID}
	paper, err := n.IssueCode(ctx, operator, e.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	_, unknown := n.CodeQR(ctx, resident, "AAAAAAAAAAAAAAAAAAAAAA")
	png, err := n.CodeQR(ctx, resident, paper.JTI)
	if err == nil || len(png) != 0 {
		t.Fatalf("a resident was served their paper code's QR (%d bytes)", len(png))
	}
	if unknown == nil || err.Error() != unknown.Error() {
		t.Fatalf("refusal %q, want an unknown code's %q", err, unknown)
	}
	if _, err := n.CodeQR(ctx, operator, paper.JTI); err != nil {
		t.Fatalf("the operator printing the paper code: %v", err)
	}
	// Cached by the operator's fetch, it is still not the resident's.
	if _, err := n.CodeQR(ctx, resident, paper.JTI); err == nil {
		t.Fatal("a resident was served their paper code's cached QR")
	}
	phone, err := n.IssueCode(ctx, resident, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CodeQR(ctx, resident, phone.JTI); err != nil {
		t.Fatalf("the resident's phone code: %v", err)
	}
}
