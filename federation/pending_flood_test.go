package federation

import (
	"fmt"
	"testing"
	"time"
)

// TestPendingFloodOfNonMembersKeepsMembersStatements: a member's grant
// waits in the pending set for its keyset. Anyone who can write state
// keys under other provinces' names (a non-member with publish rights)
// then writes keysets for provinces no trust list names, each held as
// pending too, more than the set holds. The member's grant must survive
// and be applied once the keyset comes; the strangers' statements go
// first. Members hold a few statements each at most (a grant, a
// heartbeat), so only strangers can fill the set.
func TestPendingFloodOfNonMembersKeepsMembersStatements(t *testing.T) {
	t.Parallel()
	const max = 4
	f := newFixture(t)
	s := runServer(t)
	rogue := connectReady(t, s, "")
	gdc := connectReady(t, s, gd)
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.MaxPending = max }).run(t)
	u.waitReady(t)

	put(t, gdc, "440000.contentkey.310000", f.grant(gd, sh))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := u.Stats().Pending; n != 1 {
			return fmt.Errorf("%d pending, want the grant", n)
		}
		return nil
	})
	for i := range max + 2 {
		put(t, rogue, fmt.Sprintf("%06d.keyset", 120000+i), []byte("a keyset of a province nobody listed"))
	}
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := u.outcomes.count("keyset/unknown_issuer") + u.outcomes.count("contentkey/unknown_issuer"); n < 3 {
			return fmt.Errorf("%d statements dropped from the pending set, want 3", n)
		}
		return nil
	})

	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if _, ok := u.state.Snapshot().ContentKeys[gd][f.p(gd).ck.ID]; !ok {
			return fmt.Errorf("content key of %s not held: its grant was dropped from the pending set", gd)
		}
		return nil
	})
	if n := u.outcomes.count("contentkey/unknown_issuer"); n != 0 {
		t.Errorf("the member's grant was dropped %d times", n)
	}
}
