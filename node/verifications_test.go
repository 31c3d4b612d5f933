package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// A scanner verifying one code over and over does not crowd the other
// scanners' verifications out of the resident's history: its repeats
// (same code, kind of place and result) are listed once, as the newest,
// while a different result of the same scanner is listed on its own.
func TestVerificationsListAScannersRepeatsOnce(t *testing.T) {
	d := startNode(t, func(c *config.Config) { c.Limits.ScannerRate, c.Limits.ScannerBurst = 1e6, 1e6 })
	n, ctx := d.Node, context.Background()
	e := enrol(t, n, 1)
	code, err := n.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	scanner := func(name, place string) node.Principal {
		sc, err := n.AddScanner(ctx, operator, name, place)
		if err != nil {
			t.Fatal(err)
		}
		return node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: place}
	}
	gate, station := scanner("gate", "checkpoint"), scanner("hall", "station")
	verify := func(p node.Principal, times int, valid bool) {
		t.Helper()
		for range times {
			if v, err := n.Verify(ctx, p, code.Code); err != nil || v.Valid != valid {
				t.Fatalf("verify: %+v, %v; want valid %v", v, err, valid)
			}
		}
	}
	verify(station, 1, true)
	verify(gate, maxVerificationsListed, true) // enough to fill a listing
	if err := n.SetStatus(ctx, operator, e.ID, "yellow", "test"); err != nil {
		t.Fatal(err)
	}
	verify(gate, 3, false) // revoked now: a different result
	testkit.WaitFor(t, 10*time.Second, 10*time.Millisecond, "every verification audited", func() error {
		if got, want := len(auditOf(t, d, "code.verify")), maxVerificationsListed+4; got != want {
			return fmt.Errorf("%d verification entries, want %d", got, want)
		}
		return nil
	})

	list, err := n.Verifications(ctx, node.Principal{Role: node.RoleResident, SubjectID: e.ID}, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ place, reason string }
	got := map[key]int{}
	for _, v := range list {
		got[key{v.Place, v.Reason}]++
	}
	want := map[key]int{{"station", "ok"}: 1, {"checkpoint", "ok"}: 1, {"checkpoint", "revoked"}: 1}
	if len(list) != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %d verifications %v, want %v", len(list), got, want)
	}
	if list[0].Reason != "revoked" {
		t.Fatalf("newest listed first: %+v", list)
	}
}

// maxVerificationsListed is node's bound on one listing.
const maxVerificationsListed = 500
