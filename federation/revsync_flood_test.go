package federation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestSyncSnapshotSignedAfterUnverifiedDropsUnblocksProvince: a peer
// that does not hold 440000's keyset yet sees a gap, then more forged
// deltas claiming huge seqs than it parks, and a genuine delta dropped
// with them. None of the dropped seqs can be verified, so none may set
// the snapshot seq that unblocks 440000: a snapshot signed before the
// drops does not unblock it (the genuine delta 4 could be lost), and
// one signed after them (and trust.ClockSkew) does, whatever seqs the
// forgeries claimed. Later genuine deltas then apply, while the parked
// forgeries (signed by a key 440000's keyset does not hold) wait for a
// keyset at most DefaultKeysetWait and are then refused as unknown_key.
func TestSyncSnapshotSignedAfterUnverifiedDropsUnblocksProvince(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	// Both nodes' clock, which the test moves on past the drops.
	var ahead atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) {
		c.Now = clock
		c.Logger = nil // thousands of refused forgeries; the stats tell the story
	}).run(t)
	u.waitReady(t)

	// Delta 1 is lost; 2 and 3 are parked waiting for the keyset. The
	// forgeries fill the parking; the overflow and the genuine delta 4
	// are dropped unverified.
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	publishRev(t, gdc, gd, 3, f.revocation(gd, 3))
	const overflow = 10
	forged := make([][]byte, maxParked+overflow)
	for i := range forged {
		forged[i] = f.revocationOf(bj, 1_000_000+uint64(i), f.entries(gd, 0, 1))
	}
	publishDeltas(t, gdc, gd, 1_000_000, forged)
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Parked != maxParked || st.ParkedDropped != overflow+3 || st.Blocked != 1 {
			return fmt.Errorf("stats %+v: want the parking full and %d dropped", st, overflow+3)
		}
		return nil
	})

	// The keyset and a snapshot at 3 signed before the drops arrive: the
	// snapshot applies, but 440000 stays blocked and asks for a fresh one.
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.SnapshotsApplied != 1 || st.SnapshotRequests < 1 || st.Blocked != 1 {
			return fmt.Errorf("stats %+v: want the old snapshot applied, a request sent, 440000 blocked", st)
		}
		return revokedThrough(u.state, gd, 3)
	})
	if u.state.Revoked(gd, jti(gd, 4)) {
		t.Fatal("code 4 revoked before any statement revoking it was applied")
	}

	// 440000's node answers with a snapshot signed now, past the drops.
	ahead.Store(int64(trust.ClockSkew + time.Minute))
	var published recorder[int64]
	err := gdc.ServeSnapshotRequests(testCtx(t), func(ctx context.Context) error {
		iat := clock().Unix()
		raw, err := trust.BuildRevocationSnapshot(f.p(gd).signer, gd, 4, iat, f.entries(gd, 1, 5))
		if err != nil {
			return err
		}
		published.add(iat)
		return gdc.PutSnapshot(ctx, gd, raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
	if len(published.all()) == 0 {
		t.Fatal("caught up without the fresh snapshot")
	}
	if got := u.state.RevocationSeq(gd); got != 4 {
		t.Errorf("seq held %d, want 4: a forged seq was applied", got)
	}
	publishRev(t, gdc, gd, 5, f.revocation(gd, 5))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 5) })

	ahead.Add(int64(DefaultKeysetWait))
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Blocked != 0 || st.Parked != 0 {
			return fmt.Errorf("stats %+v: want 440000 unblocked", st)
		}
		return nil
	})
	if n := u.outcomes.count("revocations/unknown_key"); n == 0 {
		t.Error("the forgeries were not refused as unknown_key")
	}
	if got := u.state.RevocationSeq(gd); got != 5 {
		t.Errorf("seq held %d, want 5: a forged seq was applied", got)
	}
}
