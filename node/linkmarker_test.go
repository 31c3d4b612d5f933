package node_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"
)

// TestLinkMarkersLookLikeTheCodeIdsAroundThem: every entry of a wallet
// link replacement's revocation statement, link marker or not, looks
// like the id of a phone code this node issued and that was still live:
// its first 6 bytes are a time (Unix ms) within one code lifetime before
// the statement, and its expiry is that time plus the lifetime, to the
// second, as issuance gives. A marker whose time were random, or whose
// expiry did not follow from it, would tell a peer that this statement
// is a lost phone's replacement, and by elimination that the others are
// status changes.
func TestLinkMarkersLookLikeTheCodeIdsAroundThem(t *testing.T) {
	t.Parallel()
	d := startNode(t)
	n, ctx := d.Node, context.Background()
	life := n.Settings().Codes.Lifetime
	const residents = 8
	start := time.Now()
	for i := range residents {
		e := enrol(t, n, i+1)
		if i%2 == 0 { // half of them with a live phone code, the others without
			if _, err := n.IssueCode(ctx, authenticateTwice(t, n, e.ResidentToken), e.ID, false); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.ReplaceResidentToken(ctx, operator, e.ID, idNumber(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	end := time.Now()
	// What peers see of them: the entries of the statements, which
	// snapshots also carry.
	live, err := d.DB.LiveRevocations(ctx, end)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range live {
		b, err := base64.RawURLEncoding.Strict().DecodeString(e.JTI)
		if err != nil || len(b) != 16 {
			t.Fatalf("revoked entry %s is not a code id: %v", e.JTI, err)
		}
		var ms int64
		for _, c := range b[:6] {
			ms = ms<<8 | int64(c)
		}
		at := time.UnixMilli(ms)
		if !at.After(start.Add(-life).Truncate(time.Millisecond)) || at.After(end) {
			t.Errorf("revoked entry %s: its time %v is not within a code lifetime (%v) before %v", e.JTI, at, life, end)
		}
		if want := time.Unix(at.Add(life).Unix(), 0); !e.Expires.Equal(want) {
			t.Errorf("revoked entry %s expires %v, want %v (its time plus the code lifetime)", e.JTI, e.Expires, want)
		}
	}
	entries := len(live)
	if want := residents + residents/2; entries != want {
		t.Fatalf("%d revoked entries after the replacements, want %d (a marker each, and the live codes)", entries, want)
	}
}
