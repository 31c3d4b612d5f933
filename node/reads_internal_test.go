package node

import (
	"slices"
	"testing"
	"time"
)

// A resident read by an account is free to read again for rereadWindow,
// for that account only; then it is charged again, and what is older
// than the window is dropped, so the memory stays bounded.
func TestRecentReadsChargeEachResidentOncePerWindow(t *testing.T) {
	var r recentReads
	t0 := time.Unix(1_800_000_000, 0)
	if got := r.fresh("acc_a", []string{"s1", "s2", "s1"}, t0); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("first reads: %v, want each subject once", got)
	}
	r.charged("acc_a", []string{"s1", "s2"}, t0)
	if got := r.fresh("acc_a", []string{"s1", "s3"}, t0.Add(rereadWindow-time.Second)); !slices.Equal(got, []string{"s3"}) {
		t.Fatalf("within the window: %v, want only s3", got)
	}
	if got := r.fresh("acc_b", []string{"s1"}, t0); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("another account: %v, want s1 charged", got)
	}
	later := t0.Add(rereadWindow)
	if got := r.fresh("acc_a", []string{"s1"}, later); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("after the window: %v, want s1 charged again", got)
	}
	r.charged("acc_a", []string{"s3"}, later)
	if len(r.m) != 1 {
		t.Fatalf("%d entries kept after the window, want 1 (s3)", len(r.m))
	}
}
