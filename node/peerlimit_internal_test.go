package node

import (
	"strconv"
	"testing"
	"time"
)

// TestPeerLimiterGivesOnlyListedProvincesABucket pins that a flood of
// messages naming made-up provinces cannot grow the per-province rate
// limiter: they share one bucket, while each listed province keeps its
// own, untouched by the flood and by each other.
func TestPeerLimiterGivesOnlyListedProvincesABucket(t *testing.T) {
	listed := map[string]bool{"440000": true, "310000": true}
	const burst = 3
	l := newPeerLimiter(1, burst, func(p string) bool { return listed[p] })
	now := time.Unix(1_800_000_000, 0)
	for i := range 10_000 {
		l.allow(strconv.Itoa(100000+i), now)
	}
	if len(l.m) > len(listed)+1 {
		t.Fatalf("%d limiter entries after 10000 unlisted province ids, want at most %d", len(l.m), len(listed)+1)
	}
	if l.allow("999999", now) {
		t.Fatal("an unlisted province got past the shared bucket the flood emptied")
	}
	for range burst {
		if !l.allow("440000", now) {
			t.Fatal("a listed province was limited by the unlisted flood")
		}
	}
	if l.allow("440000", now) {
		t.Fatal("a listed province past its burst was allowed")
	}
	if !l.allow("310000", now) {
		t.Fatal("one listed province's burst limited another's")
	}
}
