package federation

import (
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestKeysetOfANewRootArrivingBeforeTheTrustListIsApplied: a province
// rotates its root. Its node signs its keyset with the new root once the
// operators' trust list names it, but a peer may receive the keyset
// first: in accounts mode each province's bucket is sourced into the
// aggregate on its own, so the operators' list and the province's keyset
// reach it in any order. The keyset must wait for the list, not be
// refused: the list drops the keyset signed by the old root, and the
// bucket does not deliver the new one again, so the province would have
// no keyset at this peer (its codes unknown_key, its grants and deltas
// refused) until it next changed its keys.
//
// A verifier replica of the rotating province has only the federation's
// copy of its own keyset, and must follow the same way.
func TestKeysetOfANewRootArrivingBeforeTheTrustListIsApplied(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		self    string
		replica bool
	}{
		{"peer", sh, false},
		{"replica of the province", gd, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testKeysetOfANewRootBeforeTheTrustList(t, tc.self, tc.replica)
		})
	}
}

func testKeysetOfANewRootBeforeTheTrustList(t *testing.T, self string, replica bool) {
	f := newFixture(t)
	all := map[string]trust.MemberStatus{gd: trust.MemberActive, sh: trust.MemberActive, bj: trust.MemberActive}
	s := runServer(t)
	op := connectReady(t, s, "")
	gdc := connectReady(t, s, gd)
	put(t, op, "trustlist", f.trustList)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	u := f.newSync(connectReady(t, s, self), self, func(c *SyncConfig) { c.Replica = replica }).run(t)
	u.waitReady(t)
	if ks := u.state.Keyset(gd); ks == nil || ks.Version != 1 {
		t.Fatalf("keyset of %s before the rotation: %+v", gd, ks)
	}

	f.p(gd).root = newKey(t)
	v2 := f.signTrustList(2, all) // names the new root
	put(t, gdc, "440000.keyset", f.keyset(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Pending+int(st.Rejected) == 0 {
			return fmt.Errorf("keyset v2 not handled yet: stats %+v", st)
		}
		return nil
	})
	if ks := u.state.Keyset(gd); ks.Version != 1 {
		t.Fatalf("a keyset signed by a root the trust list does not name was applied: v%d", ks.Version)
	}

	put(t, op, "trustlist", v2)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if tl := u.state.TrustList(); tl.Version != 2 {
			return fmt.Errorf("trust list v%d, want v2", tl.Version)
		}
		if ks := u.state.Keyset(gd); ks == nil || ks.Version != 2 {
			return fmt.Errorf("keyset of %s after trust list v2: %+v, want v2", gd, ks)
		}
		return nil
	})
}
