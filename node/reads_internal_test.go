package node

import (
	"slices"
	"sync"
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

// Reads of one account from several requests at once share its recent
// reads: each resident is charged at most once per request racing for
// it, never once per read (run with -race).
func TestChargeSubjectReadsFromConcurrentRequests(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := &access{clock: clock{func() time.Time { return now }}, operatorReads: newKeyedLimiter(0.001, 1000),
		readsMetric: NewMetrics().OperatorReads}
	p := Principal{Role: RoleOperator, AccountID: "acc_a", Account: "desk"}
	subjects := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}
	const workers, rounds = 8, 20
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := a.chargeSubjectReads(p, readAppealQueue, subjects...); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	left := 0
	for a.operatorReads.allow("acc_a", now) {
		left++
	}
	if charged := 1000 - left; charged < len(subjects) || charged > workers*len(subjects) {
		t.Fatalf("%d reads charged for %d residents read %d times each", charged, len(subjects), workers*rounds)
	}
}
