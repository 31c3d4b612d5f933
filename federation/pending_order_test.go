package federation

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestPendingOrderIsTotal: statements held since the same instant (one
// watcher pass delivers many at once) leave the pending set in one order,
// by key, whatever the map's iteration: expired hands them on oldest
// first then by key, and a full set evicts the smallest key among the
// oldest. Ordered by time alone, both followed the map's random order, so
// which statement was refused first, or dropped, changed from run to run.
func TestPendingOrderIsTotal(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	const n = 16
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("%06d.heartbeat", 110000+i)
	}
	for run := range 20 {
		ps := &pendingSet{max: n + 1}
		for i := range n { // put in reverse order: sorted by accident only if the order is total
			k := keys[n-1-i]
			ps.put(statement{topic: Topic{Kind: KindHeartbeat}, key: k, raw: []byte(k)}, trust.ReasonUnknownKey, t0, true)
		}
		var got []string
		for _, it := range ps.expired(t0.Add(time.Minute), time.Second) {
			got = append(got, it.st.key)
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("run %d: expired handed on %v; want them by key, %v", run, got, keys)
		}
	}
	for run := range 20 {
		ps := &pendingSet{max: n - 1}
		for i := range n {
			k := keys[n-1-i]
			ev, full := ps.put(statement{topic: Topic{Kind: KindHeartbeat}, key: k, raw: []byte(k)}, trust.ReasonUnknownKey, t0, true)
			if full && ev.st.key != keys[0] {
				t.Fatalf("run %d: the full set evicted %s; want the smallest key held as long, %s", run, ev.st.key, keys[0])
			}
		}
	}
}
