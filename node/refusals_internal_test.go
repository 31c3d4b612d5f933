package node

import (
	"fmt"
	"testing"
	"time"
)

// Many stolen tokens refused many routes at once must not grow the
// node's memory: past refusalPairsMax pairs within a window, a refusal of
// a new pair is counted under its role's shared actor (audited together
// with every other one past the bound), and past refusalSharedMax pairs
// of those too it is counted as unaudited and not remembered, and the
// node warns of it once a window; once windows have ended their pairs
// make room (a pair forgotten with refusals not written counts them as
// unaudited).
func TestRefusalsStayBoundedAndCountWhatTheyDrop(t *testing.T) {
	r := newRefusals(refusalPairsMax)
	t0 := time.Unix(1_700_000_000, 0)
	const route = "POST /v1/subjects"
	pair := func(i int) refusalPair { return refusalPair{actor: fmt.Sprint("scanner:sc_", i), route: route} }
	shared := refusalPair{actor: "scanner", route: route}
	take := func(p refusalPair, at time.Time) (refusalPair, bool, int) { return r.take(p, shared, at) }
	for i := range refusalPairsMax {
		if got, write, _ := take(pair(i), t0); !write || got != pair(i) {
			t.Fatalf("pair %d's first refusal is not written as its own (%v, %v)", i, got, write)
		}
	}
	// One pair is refused again within its window: counted, not written.
	if _, write, _ := take(pair(0), t0.Add(time.Second)); write {
		t.Fatal("a second refusal within the window is written")
	}
	for i := range 10 {
		got, write, _ := take(pair(refusalPairsMax+i), t0.Add(time.Second))
		if got != shared || write != (i == 0) {
			t.Fatalf("new pair %d with %d pairs remembered: counted under %v, written %v; want under %v, the first written",
				i, refusalPairsMax, got, write, shared)
		}
	}
	if got := r.unaudited(t0.Add(time.Second)); got != 0 {
		t.Errorf("unaudited = %d, want 0: the new pairs' refusals are counted under the shared actor", got)
	}
	// The shared actors' pairs are bounded too.
	for i := range refusalSharedMax + 10 {
		sh := refusalPair{actor: "scanner", route: fmt.Sprint("GET /v1/route-", i)}
		r.take(refusalPair{actor: "scanner:sc_new", route: sh.route}, sh, t0.Add(time.Second))
	}
	if got := len(r.pairs); got != refusalPairsMax+refusalSharedMax {
		t.Fatalf("%d pairs remembered, want at most %d", got, refusalPairsMax+refusalSharedMax)
	}
	if got := r.unaudited(t0.Add(time.Second)); got != 11 {
		t.Errorf("unaudited = %d, want the 11 refusals past the shared actors' room", got)
	}
	if got := r.unaudited(t0.Add(2 * time.Second)); got != 0 {
		t.Errorf("unaudited again within the window = %d, want 0 (one warning a window)", got)
	}

	// After the window, a new pair makes room: the old pairs are
	// forgotten, pair 0 with its one refusal not written, the shared
	// pair with its nine.
	later := t0.Add(refusalWindow + time.Second)
	if got, write, repeated := take(pair(-1), later); !write || repeated != 0 || got != pair(-1) {
		t.Fatalf("a new pair after the window: counted under %v, write %v repeated %d, want written as its own", got, write, repeated)
	}
	if got := len(r.pairs); got != 1 {
		t.Errorf("%d pairs remembered after pruning, want 1", got)
	}
	if got := r.unaudited(later.Add(refusalWindow)); got != 1+9 {
		t.Errorf("unaudited after pruning = %d, want pair 0's one refusal and the shared pair's nine not written", got)
	}
}

// A write that failed gives its refusals back: the pair's next refusal,
// within the window, is written with them counted.
func TestRefusalsUnwrittenIsWrittenNextWithItsCount(t *testing.T) {
	r := newRefusals(refusalPairsMax)
	t0 := time.Unix(1_700_000_000, 0)
	p := refusalPair{actor: "resident:s_1", route: "GET /v1/subjects/:id"}
	r.take(p, p, t0)
	if _, write, _ := r.take(p, p, t0.Add(time.Second)); write {
		t.Fatal("a refusal within the window is written")
	}
	_, write, repeated := r.take(p, p, t0.Add(refusalWindow))
	if !write || repeated != 1 {
		t.Fatalf("the next window's first refusal: write %v repeated %d, want written with 1", write, repeated)
	}
	r.unwritten(p, repeated)
	_, write, repeated = r.take(p, p, t0.Add(refusalWindow+time.Second))
	if !write || repeated != 2 {
		t.Errorf("after a failed write: write %v repeated %d, want written with 2 (the failed one and the one before it)", write, repeated)
	}
}
