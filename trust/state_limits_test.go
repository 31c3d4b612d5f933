package trust

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// A member province is trusted with its own codes only: whatever it
// signs, what peers hold of it stays bounded.

// TestStateHoldsAProvincesLiveRevocationsUpToTheLimit: a member
// publishing deltas without end cannot grow a peer's memory without end.
// A delta that would pass MaxLiveRevocations is refused (oversized) and
// nothing of it applied; entries held again or expired make no count; a
// snapshot, which holds every live revocation of its province, replaces
// what is held rather than adding to it.
func TestStateHoldsAProvincesLiveRevocationsUpToTheLimit(t *testing.T) {
	f := newStateFixture(t, StateConfig{MaxLiveRevocations: 3})
	f.withGuangdong(t)
	rev := func(seq uint64, jtis ...string) string {
		return signRevocation(t, f.GD.Active, revocationOf(t, f.GD, seq, f.Now, jtis...))
	}
	a, b, c, d := mustJTI(t), mustJTI(t), mustJTI(t), mustJTI(t)
	if _, err := f.State.ApplyRevocation(gd, rev(1, a, b), f.Now); err != nil {
		t.Fatal(err)
	}
	_, err := f.State.ApplyRevocation(gd, rev(2, c, d), f.Now)
	wantReason(t, err, ReasonOversized)
	if f.State.RevocationSeq(gd) != 1 || f.State.Revoked(gd, c) || f.State.RevokedLen() != 2 {
		t.Fatalf("a refused delta was applied in part: seq %d, %d held", f.State.RevocationSeq(gd), f.State.RevokedLen())
	}
	// a is held already: one more fits.
	if _, err := f.State.ApplyRevocation(gd, rev(2, a, c), f.Now); err != nil {
		t.Fatal(err)
	}
	// Once a, b and c have expired they make room, without a Prune.
	later := f.Now.Add(time.Hour + ClockSkew + time.Second)
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 3, later, d)), later); err != nil {
		t.Fatal(err)
	}
	if !f.State.Revoked(gd, d) || f.State.RevokedLen() != 1 {
		t.Fatalf("%d held after the expired made room, want 1", f.State.RevokedLen())
	}

	// Three held and a snapshot of three others: the snapshot replaces.
	e, g := mustJTI(t), mustJTI(t)
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, revocationOf(t, f.GD, 4, later, e, g)), later); err != nil {
		t.Fatal(err)
	}
	var es []RevocationEntry
	for range 3 {
		es = append(es, RevocationEntry{JTI: mustJTI(t), Expires: later.Add(time.Hour).Unix()})
	}
	snap, err := BuildRevocationSnapshot(f.GD.Active, gd, 5, later.Unix(), es)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, snap, later); err != nil {
		t.Fatal(err)
	}
	if f.State.RevokedLen() != 3 || !f.State.Revoked(gd, es[2].JTI) || f.State.Revoked(gd, d) {
		t.Fatalf("%d held after a snapshot of 3 over 3 held, want the snapshot's 3", f.State.RevokedLen())
	}
	// The node's own revocations are its database's: no limit.
	f.State.RevokeOwn(1, []RevocationEntry{{JTI: a, Expires: later.Add(time.Hour).Unix()}, {JTI: b, Expires: later.Add(time.Hour).Unix()},
		{JTI: c, Expires: later.Add(time.Hour).Unix()}, {JTI: d, Expires: later.Add(time.Hour).Unix()}}, later)
	if !f.State.Revoked(sh, d) {
		t.Fatal("own revocation past the limit not held")
	}
}

// TestStateHoldsARevocationNoLongerThanACodeCanLive: a member revoking
// codes "until 2106" would make every peer hold the entries for ever. No
// code lives longer than MaxCodeLifetime, so an entry is held at most
// MaxRevocationHold, from a delta or a snapshot.
func TestStateHoldsARevocationNoLongerThanACodeCanLive(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	forever := int64(math.MaxUint32)
	fromDelta, fromSnap := mustJTI(t), mustJTI(t)
	r := Revocation{Issuer: gd, Seq: 1, IssuedAt: f.Now.Unix(), Entries: []RevocationEntry{{JTI: fromDelta, Expires: forever}}}
	if _, err := f.State.ApplyRevocation(gd, signRevocation(t, f.GD.Active, r), f.Now); err != nil {
		t.Fatal(err)
	}
	snap, err := BuildRevocationSnapshot(f.GD.Active, gd, 2, f.Now.Unix(), []RevocationEntry{{JTI: fromSnap, Expires: forever}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, snap, f.Now); err != nil {
		t.Fatal(err)
	}
	f.State.Prune(f.Now.Add(MaxRevocationHold))
	if !f.State.Revoked(gd, fromDelta) || !f.State.Revoked(gd, fromSnap) {
		t.Fatal("an entry was forgotten while a code it names could still be shown")
	}
	f.State.Prune(f.Now.Add(MaxRevocationHold + ClockSkew + time.Second))
	if f.State.Revoked(gd, fromDelta) || f.State.Revoked(gd, fromSnap) || f.State.RevokedLen() != 0 {
		t.Fatalf("%d entries claiming to expire in 2106 still held past MaxRevocationHold", f.State.RevokedLen())
	}
}

// grantOf signs a grant from p to q of the content keys cks.
func grantOf(t *testing.T, p, q *testProvince, cks []ContentKey, now time.Time) string {
	t.Helper()
	raw, err := GrantContentKeys(p.Active, p.ID, q.ID, &q.Enc.PublicKey, cks, now)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// heldContentKeys are every content key f's State holds, as a node hands
// them to its verifier replicas (node.Replicas.Sync).
func heldContentKeys(f *stateFixture) []ContentKey {
	var cks []ContentKey
	for _, byID := range f.State.Snapshot().ContentKeys {
		for _, ck := range byID {
			cks = append(cks, ck)
		}
	}
	return cks
}

// TestStateHoldsAProvincesContentKeysUpToTheLimit: a member granting a
// peer new content keys again and again, each grant a full one of
// MaxGrantKeys keys named afresh and claiming to live for years, grew
// the peer's memory (and the copy each State change makes of them)
// without end, and once the peer held more than MaxReplicaKeys its
// verifier replicas got none at all (SealContentKeys refused). Now a
// State holds at most MaxHeldContentKeys of one province; the keys of
// the grant just applied stay, and the member's earlier keys go first.
func TestStateHoldsAProvincesContentKeysUpToTheLimit(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	years := f.Now.Add(10 * 365 * 24 * time.Hour)
	var last []ContentKey
	for g := range MaxReplicaKeys/MaxGrantKeys + 1 {
		last = last[:0]
		for i := range MaxGrantKeys {
			last = append(last, ContentKey{ID: ContentKeyID(gd, fmt.Sprintf("g%d-%d", g, i)),
				Key: fixedBytes(fmt.Sprint(g, i), ContentKeyLen), NotBefore: f.Now, Expires: years})
		}
		if err := f.State.ApplyGrant(gd, grantOf(t, f.GD, f.SH, last, f.Now), f.Now); err != nil {
			t.Fatal(err)
		}
	}
	ids := f.State.ContentKeyIDs(gd)
	if len(ids) > MaxHeldContentKeys {
		t.Fatalf("%d content keys of %s held after %d grants, limit %d", len(ids), gd, MaxReplicaKeys/MaxGrantKeys+1, MaxHeldContentKeys)
	}
	for _, ck := range last {
		if _, ok := f.State.Snapshot().ContentKeys[gd][ck.ID]; !ok {
			t.Fatalf("key %s of the last grant not held", ck.ID)
		}
	}
	if _, err := SealContentKeys(heldContentKeys(f), &f.SH.Enc.PublicKey); err != nil {
		t.Fatalf("the keys held can no longer be handed to a replica: %v", err)
	}
}

// TestStateRefusesAGrantOfAKeyIdNoCodeCanName: a member granting a peer
// a content key whose id is not a plain header value (or longer than
// any key id) had it held; the peer then failed to seal its content keys
// for its verifier replicas (SealContentKeys refuses such an id), so one
// grant left every replica of the peer without keys of any province. Now
// the grant is refused as malformed and nothing of it is held.
func TestStateRefusesAGrantOfAKeyIdNoCodeCanName(t *testing.T) {
	for name, id := range map[string]string{
		"a quote":      gd + `/"`,
		"non-ASCII":    gd + "/纪元",
		"a control":    gd + "/\x00",
		"over the max": gd + "/" + strings.Repeat("e", maxKidLen),
	} {
		t.Run(name, func(t *testing.T) {
			f := newStateFixture(t, StateConfig{})
			f.withGuangdong(t)
			bad := ContentKey{ID: id, Key: fixedBytes(name, ContentKeyLen), NotBefore: f.Now, Expires: f.Now.Add(time.Hour)}
			err := f.State.ApplyGrant(gd, grantOf(t, f.GD, f.SH, []ContentKey{f.GD.CK, bad}, f.Now), f.Now)
			wantReason(t, err, ReasonMalformed)
			if _, held := f.State.Snapshot().ContentKeys[gd][id]; held {
				t.Fatal("the key was held")
			}
			if _, err := SealContentKeys(heldContentKeys(f), &f.SH.Enc.PublicKey); err != nil {
				t.Fatalf("the keys held can no longer be handed to a replica: %v", err)
			}
		})
	}
}
