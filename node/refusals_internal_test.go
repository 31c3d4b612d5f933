package node

import (
	"fmt"
	"testing"
	"time"
)

// Many stolen tokens refused many routes at once must not grow the
// node's memory: past refusalPairsMax pairs within a window, a refusal of
// a new pair is counted as unaudited and not remembered, the node warns
// of it once a window, and once windows have ended their pairs make room
// (a pair forgotten with refusals not written counts them as unaudited).
func TestRefusalsStayBoundedAndCountWhatTheyDrop(t *testing.T) {
	r := newRefusals(refusalPairsMax)
	t0 := time.Unix(1_700_000_000, 0)
	pair := func(i int) refusalPair {
		return refusalPair{actor: fmt.Sprint("scanner:sc_", i), route: "POST /v1/subjects"}
	}
	for i := range refusalPairsMax {
		if write, _ := r.take(pair(i), t0); !write {
			t.Fatalf("pair %d's first refusal is not written", i)
		}
	}
	// One pair is refused again within its window: counted, not written.
	if write, _ := r.take(pair(0), t0.Add(time.Second)); write {
		t.Fatal("a second refusal within the window is written")
	}
	for i := range 10 {
		if write, _ := r.take(pair(refusalPairsMax+i), t0.Add(time.Second)); write {
			t.Fatalf("a new pair is written with %d pairs remembered", refusalPairsMax)
		}
	}
	if got := len(r.pairs); got != refusalPairsMax {
		t.Fatalf("%d pairs remembered, want at most %d", got, refusalPairsMax)
	}
	if got := r.unaudited(t0.Add(time.Second)); got != 10 {
		t.Errorf("unaudited = %d, want the 10 new pairs' refusals", got)
	}
	if got := r.unaudited(t0.Add(2 * time.Second)); got != 0 {
		t.Errorf("unaudited again within the window = %d, want 0 (one warning a window)", got)
	}

	// After the window, a new pair makes room: the old pairs are
	// forgotten, pair 0 with its one refusal not written.
	later := t0.Add(refusalWindow)
	if write, repeated := r.take(pair(-1), later); !write || repeated != 0 {
		t.Fatalf("a new pair after the window: write %v repeated %d, want written", write, repeated)
	}
	if got := len(r.pairs); got != 1 {
		t.Errorf("%d pairs remembered after pruning, want 1", got)
	}
	if got := r.unaudited(t0.Add(time.Second + refusalWindow)); got != 1 {
		t.Errorf("unaudited after pruning = %d, want pair 0's one refusal not written", got)
	}
}

// A write that failed gives its refusals back: the pair's next refusal,
// within the window, is written with them counted.
func TestRefusalsUnwrittenIsWrittenNextWithItsCount(t *testing.T) {
	r := newRefusals(refusalPairsMax)
	t0 := time.Unix(1_700_000_000, 0)
	p := refusalPair{actor: "resident", route: "GET /v1/subjects/:id"}
	r.take(p, t0)
	if write, _ := r.take(p, t0.Add(time.Second)); write {
		t.Fatal("a refusal within the window is written")
	}
	write, repeated := r.take(p, t0.Add(refusalWindow))
	if !write || repeated != 1 {
		t.Fatalf("the next window's first refusal: write %v repeated %d, want written with 1", write, repeated)
	}
	r.unwritten(p, repeated)
	write, repeated = r.take(p, t0.Add(refusalWindow+time.Second))
	if !write || repeated != 2 {
		t.Errorf("after a failed write: write %v repeated %d, want written with 2 (the failed one and the one before it)", write, repeated)
	}
}
