package node_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// authenticateTwice resolves tok twice, so that the second answer comes
// from the token cache.
func authenticateTwice(t *testing.T, n *node.Node, tok string) node.Principal {
	t.Helper()
	for range 2 {
		if _, err := n.Authenticate(context.Background(), tok); err != nil {
			t.Fatalf("authenticate: %v", err)
		}
	}
	p, _ := n.Authenticate(context.Background(), tok)
	return p
}

func wantUnauthorized(t *testing.T, n *node.Node, tok string) {
	t.Helper()
	p, err := n.Authenticate(context.Background(), tok)
	if node.ErrorCodeOf(err) != node.EUnauthorized {
		t.Fatalf("authenticate: %+v, %v; want %s", p, err, node.EUnauthorized)
	}
}

func TestRemovedScannerTokenIsRefusedAtOnce(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	gone, err := n.AddScanner(ctx, operator, "gate 1", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	kept, err := n.AddScanner(ctx, operator, "gate 2", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	if p := authenticateTwice(t, n, gone.Token); p.Role != node.RoleScanner || p.ScannerID != gone.ID {
		t.Fatalf("principal %+v", p)
	}
	authenticateTwice(t, n, kept.Token)

	if err := n.RemoveScanner(ctx, operator, gone.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, n, gone.Token)
	if p := authenticateTwice(t, n, kept.Token); p.ScannerID != kept.ID {
		t.Fatalf("other scanner after removal: %+v", p)
	}
}

func TestDeletedResidentTokenIsRefusedAtOnce(t *testing.T) {
	n := startNode(t).Node
	gone, kept := enrol(t, n, 1), enrol(t, n, 2)
	if p := authenticateTwice(t, n, gone.ResidentToken); p.Role != node.RoleResident || p.SubjectID != gone.ID {
		t.Fatalf("principal %+v", p)
	}
	authenticateTwice(t, n, kept.ResidentToken)

	// The resident deletes their own record with their own token.
	self := node.Principal{Role: node.RoleResident, SubjectID: gone.ID}
	if err := n.DeleteSubject(context.Background(), self, gone.ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, n, gone.ResidentToken)
	if p := authenticateTwice(t, n, kept.ResidentToken); p.SubjectID != kept.ID {
		t.Fatalf("other resident after deletion: %+v", p)
	}
}

// TestScannerRemovedDuringLookupsIsRefusedAfterward races lookups that
// fill the cache against the removal: no lookup that starts after
// RemoveScanner returned may succeed, even one whose database read began
// before the removal committed.
func TestScannerRemovedDuringLookupsIsRefusedAfterward(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	for round := range 20 {
		sc, err := n.AddScanner(ctx, operator, "gate", "checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		var removed atomic.Bool
		var late atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := removed.Load()
					if _, err := n.Authenticate(ctx, sc.Token); err == nil && after {
						late.Add(1)
					}
				}
			}()
		}
		if err := n.RemoveScanner(ctx, operator, sc.ID); err != nil {
			t.Fatal(err)
		}
		removed.Store(true)
		wantUnauthorized(t, n, sc.Token)
		close(stop)
		wg.Wait()
		if c := late.Load(); c > 0 {
			t.Fatalf("round %d: %d lookups after removal accepted the token", round, c)
		}
	}
}

// A code asked for with a wallet link that is replaced before the code is
// recorded is not recorded, nor handed out: the replacement revoked the
// old phone's live codes, and a code signed for the old link in that
// window would outlive it (a finder of the phone asking for codes over
// and over). The principal authenticated before the replacement stands
// for a request already past its authentication when it commits.
func TestCodeAskedWithAWalletLinkReplacedMeanwhileIsRefused(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	e := enrol(t, n, 1)
	before := authenticateTwice(t, n, e.ResidentToken)
	if _, err := n.IssueCode(ctx, before, e.ID, false); err != nil {
		t.Fatalf("a code asked for before the replacement: %v", err)
	}
	fresh, err := n.ReplaceResidentToken(ctx, operator, e.ID, idNumber(1))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := n.IssueCode(ctx, before, e.ID, false); node.ErrorCodeOf(err) != node.EUnauthorized {
		t.Fatalf("a code asked for with the replaced link: %+v, %v; want %s", out, err, node.EUnauthorized)
	}
	now := authenticateTwice(t, n, fresh.ResidentToken)
	issued, err := n.IssueCode(ctx, now, e.ID, false)
	if err != nil {
		t.Fatalf("a code asked for with the new link: %v", err)
	}
	rec, err := n.SubjectRecord(ctx, now, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.LiveCodes) != 1 || rec.LiveCodes[0] != issued.JTI {
		t.Errorf("live phone codes %v; want only the new link's %s", rec.LiveCodes, issued.JTI)
	}
}
