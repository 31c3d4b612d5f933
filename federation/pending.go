package federation

import (
	"sort"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// pendingSet holds statements that could not be applied yet because what
// they depend on has not arrived: a keyset whose province no trust list
// held names yet, a grant or heartbeat whose issuer's keyset is missing
// or does not hold (as active) the key that signed it yet; the latter
// wait at most Sync.keysetWait (expired).
// It holds the latest value per key only (a newer value supersedes an
// older one, which would be refused as a rollback anyway) and at most max
// statements. When it is full, the oldest statement of a province that no
// trust list held names goes first, and only if there is none the oldest
// of a member: each member has a few statements at most to hold (a grant,
// a heartbeat), so a flood under the names of strangers — anyone may write
// a key under any province id a trust list does not hold — cannot push
// out a member's grant while it waits for its keyset. Callers hold
// Sync.mu.
type pendingSet struct {
	max   int
	items map[string]pendingItem
}

type pendingItem struct {
	st     statement
	reason trust.Reason
	since  time.Time
	member bool // its province was a member when it was held
}

// put holds st, whose province is a member or not. If that overflows the
// set, the statement to drop (see pendingSet) is removed and returned
// with full set.
func (ps *pendingSet) put(st statement, reason trust.Reason, now time.Time, member bool) (evicted pendingItem, full bool) {
	if ps.items == nil {
		ps.items = map[string]pendingItem{}
	}
	since := now
	if !st.since.IsZero() {
		since = st.since // held before, and tried again
	} else if old, ok := ps.items[st.key]; ok && string(old.st.raw) == string(st.raw) {
		since = old.since
	}
	ps.items[st.key] = pendingItem{st: st, reason: reason, since: since, member: member}
	if len(ps.items) <= ps.max {
		return pendingItem{}, false
	}
	oldest := ""
	for k, it := range ps.items {
		if oldest == "" {
			oldest = k
			continue
		}
		o := ps.items[oldest]
		if it.member == o.member && it.older(o) || !it.member && o.member {
			oldest = k
		}
	}
	evicted = ps.items[oldest]
	delete(ps.items, oldest)
	return evicted, true
}

// drain removes and returns every held statement, keysets first (the
// others depend on them), then oldest first.
func (ps *pendingSet) drain() []pendingItem {
	out := make([]pendingItem, 0, len(ps.items))
	for _, it := range ps.items {
		out = append(out, it)
	}
	clear(ps.items)
	sort.Slice(out, func(i, j int) bool {
		ki, kj := out[i].st.topic.Kind == KindKeyset, out[j].st.topic.Kind == KindKeyset
		if ki != kj {
			return ki
		}
		return out[i].older(out[j])
	})
	return out
}

// expired removes and returns, oldest first (then by key), the statements held for a
// key of their province's keyset (unknown_key, key_not_active) since
// longer ago than wait, so that they are refused. A statement held for
// want of a keyset or trust list at all stays until one arrives or the
// set makes room.
func (ps *pendingSet) expired(now time.Time, wait time.Duration) []pendingItem {
	var out []pendingItem
	for k, it := range ps.items {
		forKey := it.reason == trust.ReasonUnknownKey || it.reason == trust.ReasonKeyNotActive
		if forKey && now.Sub(it.since) >= wait {
			out = append(out, it)
			delete(ps.items, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].older(out[j]) })
	return out
}

// older orders held statements oldest first, and those held since the
// same instant by key: a total order (the set holds one statement per
// key), so that which goes first never depends on the map's iteration.
func (it pendingItem) older(o pendingItem) bool {
	if !it.since.Equal(o.since) {
		return it.since.Before(o.since)
	}
	return it.st.key < o.st.key
}

func (ps *pendingSet) len() int { return len(ps.items) }
