package federation

import (
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestSyncRefusesSnapshotWithTamperedChunk has the stored snapshot's last
// chunk byte changed in the bucket: the peer refuses it as bad_chunk,
// applies nothing from it, and fills the gap from the next good one.
func TestSyncRefusesSnapshotWithTamperedChunk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u := f.caughtUpAfterDelta1(t)
	tampered := f.snapshot(gd, 3)
	tampered[len(tampered)-1] ^= 1
	putSnapshot(t, gdc, gd, tampered)
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	u.waitOutcome(t, "revsnapshot/bad_chunk", 1)
	if seq := u.state.RevocationSeq(gd); seq != 1 {
		t.Fatalf("seq %d after a tampered snapshot, want 1", seq)
	}
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
}

// TestSyncRefusesSnapshotManifestSignedByAnotherProvince stores, as
// Guangdong's snapshot, one whose manifest Shanghai's key signed: a key
// Guangdong's keyset does not hold. It waits for a keyset listing it, as
// any statement of an unknown kid does, and is refused (unknown_key)
// after KeysetWait.
func TestSyncRefusesSnapshotManifestSignedByAnotherProvince(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u, ahead := f.caughtUpWithClock(t)
	forged, err := trust.BuildRevocationSnapshot(f.p(sh).signer, gd, 3, time.Now().Unix(), f.entries(gd, 1, 4))
	if err != nil {
		t.Fatal(err)
	}
	putSnapshot(t, gdc, gd, forged)
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	waitPending(t, u, 1)
	ahead.Store(int64(DefaultKeysetWait))
	u.waitOutcome(t, "revsnapshot/unknown_key", 1)
	if err := revokedThrough(u.state, gd, 2); err == nil {
		t.Fatal("code 2 revoked by a snapshot Guangdong did not sign")
	}
}
