package node

import (
	"slices"
	"testing"

	"github.com/hcfed/hcfed/trust"
)

// A code scanned again at the same kind of place on the same day adds no
// entry, and a batch is sorted, so neither the count nor the order of a
// receipt's entries tells when in the day each scan happened.
func TestReceiptQueueKeepsOneEntryPerCodePlaceAndDaySorted(t *testing.T) {
	var q receiptQueue
	a := trust.ReceiptEntry{JTI: "bbbbbbbbbbbbbbbbbbbbbb", Place: "station", Day: "2026-11-30"}
	b := trust.ReceiptEntry{JTI: "aaaaaaaaaaaaaaaaaaaaaa", Place: "station", Day: "2026-11-30"}
	c := trust.ReceiptEntry{JTI: "bbbbbbbbbbbbbbbbbbbbbb", Place: "checkpoint", Day: "2026-11-30"}
	for _, step := range []struct {
		e    trust.ReceiptEntry
		want string
	}{{a, receiptQueued}, {a, ""}, {b, receiptQueued}, {c, receiptQueued}, {a, ""}} {
		if got := q.add("440000", step.e); got != step.want {
			t.Fatalf("add %+v: %q, want %q", step.e, got, step.want)
		}
	}
	all, dropped := q.take()
	if want := []trust.ReceiptEntry{b, c, a}; !slices.Equal(all["440000"], want) || dropped != 0 {
		t.Fatalf("took %+v (dropped %d), want %+v", all["440000"], dropped, want)
	}
	if all, _ := q.take(); len(all) != 0 {
		t.Fatalf("a second take returned %+v", all)
	}
}

func TestReceiptQueueStaysBounded(t *testing.T) {
	var q receiptQueue
	q.n = maxQueuedReceipts - 1
	if got := q.add("440000", trust.ReceiptEntry{JTI: "aaaaaaaaaaaaaaaaaaaaaa", Day: "2026-11-30"}); got != receiptQueued {
		t.Fatalf("last free slot: %q", got)
	}
	if got := q.add("440000", trust.ReceiptEntry{JTI: "bbbbbbbbbbbbbbbbbbbbbb", Day: "2026-11-30"}); got != receiptDropped {
		t.Fatalf("beyond the bound: %q, want dropped", got)
	}
	if _, dropped := q.take(); dropped != 1 {
		t.Fatalf("dropped %d, want 1", dropped)
	}
}
