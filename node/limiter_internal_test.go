package node

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyedLimiterForgetsOnlyIdleKeysAndKeepsLimiting(t *testing.T) {
	k := newKeyedLimiter(1, 2)
	now := time.Unix(1_700_000_000, 0)
	if !k.allow("busy", now) || !k.allow("busy", now) || k.allow("busy", now) {
		t.Fatal("burst of 2 not enforced")
	}
	for i := range limiterPruneAt - 1 { // with "busy", the map is full
		k.allow(fmt.Sprint("idle-", i), now.Add(-time.Hour))
	}
	// The next new key prunes: every idle bucket is full again at now,
	// the busy one is empty and must survive, or its limit would reset.
	k.allow("new", now)
	k.mu.Lock()
	size, pruneAt := len(k.m), k.pruneAt
	k.mu.Unlock()
	if size > 3 || pruneAt != limiterPruneAt {
		t.Fatalf("after pruning: %d keys, next prune at %d", size, pruneAt)
	}
	if k.allow("busy", now) {
		t.Fatal("pruning reset a limited key's bucket")
	}
}
