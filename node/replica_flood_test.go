package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Home held one registration per unconfirmed replica, each replacing the
// last, and trusted it only if it was the one confirmed: a replica-token
// holder registering between the replica's registration and the admin's
// 'hcnode replica confirm' left the confirmed replica untrusted, its sync
// refused, until it registered again, a race a fast registrant wins as
// often as it likes. Home now keeps the keys registered unconfirmed (a
// few per replica), and a confirmation takes those of its fingerprint at
// once; the thief's keys stay untrusted and are refused from then on.
func TestAConfirmationTrustsTheReplicasKeysWhoeverRegisteredSince(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	rp, err := rs.Authenticate(ctx, addedReplica(t, n, "r1").Token)
	if err != nil {
		t.Fatal(err)
	}
	own, thief := newReplicaKeys(t), newReplicaKeys(t)
	if _, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK); err != nil {
		t.Fatal(err)
	}
	// The thief registers after the replica, before and after each of
	// its refreshes, as fast as it likes.
	for range 3 {
		if _, err := rs.Register(ctx, rp, thief.encJWK, thief.sigJWK); err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rs.Register(ctx, rp, thief.encJWK, thief.sigJWK); err != nil {
		t.Fatal(err)
	}
	info, err := rs.Confirm(ctx, adm, "r1", own.fp)
	if err != nil || !info.Trusted || info.Fingerprint != own.fp {
		t.Fatalf("confirm of the replica's fingerprint, the thief's keys registered last: %+v %v; want the replica's keys trusted", info, err)
	}
	_, err = rs.Register(ctx, rp, thief.encJWK, thief.sigJWK)
	wantReplicaCode(t, "the thief registering once its keys are confirmed", err, node.EConflict)
	s, _, err := rs.Sync(ctx, rp, "")
	if err != nil {
		t.Fatalf("the confirmed replica's sync: %v", err)
	}
	if _, err := trust.OpenContentKeys(s.ContentKeys, own.enc); err != nil {
		t.Fatalf("the content keys do not open with the replica's key: %v", err)
	}
	if st, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK); err != nil || !st.Trusted {
		t.Fatalf("the replica's next registration: %+v %v", st, err)
	}
}

// A grandfathered replica (its enc key held before the upgrade) was
// served only while the last registration was of that key: each of a
// token holder's registrations took it out of service until it
// registered again, and one between its registration and its sync
// refused that sync, so a fast registrant kept it from ever syncing.
// Other keys are now held beside it, unconfirmed, and it keeps serving.
func TestAGrandfatheredReplicaKeepsSyncingWhileAThiefRegisters(t *testing.T) {
	d, added, own := grandfatheredReplica(t)
	n := d.Node
	ctx := context.Background()
	rs := n.Replicas()
	rp := authenticatedReplica(t, rs, added.Token)
	thief := newReplicaKeys(t)
	sync := func(what string) {
		t.Helper()
		s, _, err := rs.Sync(ctx, rp, "")
		if err != nil {
			t.Fatalf("%s: sync: %v", what, err)
		}
		if _, err := trust.OpenContentKeys(s.ContentKeys, own.enc); err != nil {
			t.Fatalf("%s: the content keys do not open with the replica's key: %v", what, err)
		}
		if _, err := trust.OpenContentKeys(s.ContentKeys, thief.enc); err == nil {
			t.Fatalf("%s: the content keys open with the thief's key", what)
		}
	}
	// The replica of the previous build (its enc key alone), then
	// upgraded in place (with a signing key); the thief registers
	// between each registration and the sync that follows it.
	for _, sig := range [][]byte{nil, own.sigJWK} {
		st, err := rs.Register(ctx, rp, own.encJWK, sig)
		if err != nil || !st.Grandfathered {
			t.Fatalf("the replica's registration: %+v %v", st, err)
		}
		st, err = rs.Register(ctx, rp, thief.encJWK, thief.sigJWK)
		if err != nil || st.Trusted || st.Grandfathered || st.Fingerprint != thief.fp {
			t.Fatalf("the thief's registration: %+v %v; want its keys neither trusted nor grandfathered", st, err)
		}
		sync("the replica's sync after the thief's registration")
	}
	l, err := rs.List(ctx, operator)
	if err != nil || len(l) != 1 || !l[0].Grandfathered {
		t.Fatalf("list: %+v %v; want r1 grandfathered", l, err)
	}
	// Confirmed, it is trusted at once, the thief's keys registered last.
	if info, err := rs.Confirm(ctx, admin(t, n), "r1", own.fp); err != nil || !info.Trusted {
		t.Fatalf("confirm: %+v %v", info, err)
	}
	sync("the confirmed replica")
}

// Each registration of a replica's keys was a write at home, without
// bound, and nothing showed how often keys changed. Keys home holds now
// write nothing; other keys are held up to store.MaxReplicaKeyCandidates
// unconfirmed, then refused (replica_keys_limit), but for those of the
// fingerprint an admin confirms; each registration of keys home did not
// hold is audited (replica.keys) and counted in the list (key_changes),
// and every registration in hcfed_replica_key_registrations_total.
func TestReplicaKeyRegistrationsAreBoundedAndShown(t *testing.T) {
	d := startNode(t)
	n := d.Node
	ctx := context.Background()
	rs, adm := n.Replicas(), admin(t, n)
	rp, err := rs.Authenticate(ctx, addedReplica(t, n, "r1").Token)
	if err != nil {
		t.Fatal(err)
	}
	registrations := func(res string) float64 {
		t.Helper()
		var m dto.Metric
		if err := n.Metrics().ReplicaKeys.WithLabelValues(res).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	listed := func() node.ReplicaInfo {
		t.Helper()
		l, err := rs.List(ctx, operator)
		if err != nil || len(l) != 1 {
			t.Fatalf("list: %+v %v", l, err)
		}
		return l[0]
	}

	// The thief registers first, and as many keys as home holds.
	thieves := make([]replicaKeys, store.MaxReplicaKeyCandidates+1)
	for i := range thieves {
		thieves[i] = newReplicaKeys(t)
	}
	for i, k := range thieves[:store.MaxReplicaKeyCandidates] {
		for range 2 {
			if _, err := rs.Register(ctx, rp, k.encJWK, k.sigJWK); err != nil {
				t.Fatalf("the thief's keys %d: %v", i, err)
			}
		}
	}
	if info := listed(); info.KeyChanges != store.MaxReplicaKeyCandidates || len(info.Registered) != store.MaxReplicaKeyCandidates ||
		info.Registered[0] != thieves[0].fp {
		t.Fatalf("list: %+v; want %d key changes and fingerprints", info, store.MaxReplicaKeyCandidates)
	}
	_, err = rs.Register(ctx, rp, thieves[len(thieves)-1].encJWK, thieves[len(thieves)-1].sigJWK)
	wantReplicaCode(t, "keys past the bound", err, node.EReplicaKeysLimit)
	own := newReplicaKeys(t)
	_, err = rs.Register(ctx, rp, own.encJWK, own.sigJWK)
	wantReplicaCode(t, "the replica's own keys past the bound", err, node.EReplicaKeysLimit)
	if !strings.Contains(err.Error(), "hcnode replica confirm r1 "+own.fp) {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
	if got := len(auditOf(t, d, "replica.keys")); got != store.MaxReplicaKeyCandidates {
		t.Fatalf("%d registrations audited, want %d", got, store.MaxReplicaKeyCandidates)
	}
	if h, nw, r := registrations("held"), registrations("new"), registrations("refused"); h != store.MaxReplicaKeyCandidates ||
		nw != store.MaxReplicaKeyCandidates || r != 2 {
		t.Fatalf("registrations counted: %v held, %v new, %v refused", h, nw, r)
	}

	// The admin confirms the replica's fingerprint: its keys are taken
	// at its next registration, past the bound, and trusted.
	if info, err := rs.Confirm(ctx, adm, "r1", own.fp); err != nil || info.Trusted {
		t.Fatalf("confirm of keys not registered: %+v %v", info, err)
	}
	if st, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK); err != nil || !st.Trusted || st.KeyChanges != store.MaxReplicaKeyCandidates+1 {
		t.Fatalf("the replica's registration once confirmed: %+v %v", st, err)
	}
	if _, _, err := rs.Sync(ctx, rp, ""); err != nil {
		t.Fatal(err)
	}
	_, err = rs.Register(ctx, rp, thieves[0].encJWK, thieves[0].sigJWK)
	wantReplicaCode(t, "the thief once the replica is trusted", err, node.EConflict)
	if info := listed(); !info.Trusted || info.KeyChanges != store.MaxReplicaKeyCandidates+1 || len(info.Registered) != 0 {
		t.Fatalf("list once trusted: %+v", info)
	}
	if registrations("conflict") != 1 {
		t.Fatalf("%v conflicts counted, want 1", registrations("conflict"))
	}
}

// A token holder registering as many keys as home holds unconfirmed
// before a grandfathered replica's upgrade does not keep the upgraded
// replica from serving on its enc key: its registration past the bound
// is answered grandfathered, writing nothing, and once an admin confirms
// its fingerprint its next registration is trusted.
func TestAGrandfatheredReplicaServesPastTheKeysAThiefRegistered(t *testing.T) {
	d, added, own := grandfatheredReplica(t)
	n := d.Node
	ctx := context.Background()
	rs := n.Replicas()
	rp := authenticatedReplica(t, rs, added.Token)
	for range store.MaxReplicaKeyCandidates {
		thief := newReplicaKeys(t)
		if _, err := rs.Register(ctx, rp, thief.encJWK, thief.sigJWK); err != nil {
			t.Fatal(err)
		}
	}
	st, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK)
	if err != nil || !st.Grandfathered || st.Trusted || st.Fingerprint != own.fp {
		t.Fatalf("the upgraded replica's registration past the bound: %+v %v; want it grandfathered", st, err)
	}
	if _, _, err := rs.Sync(ctx, rp, ""); err != nil {
		t.Fatalf("its sync: %v", err)
	}
	if _, err := rs.Confirm(ctx, admin(t, n), "r1", own.fp); err != nil {
		t.Fatal(err)
	}
	if st, err := rs.Register(ctx, rp, own.encJWK, own.sigJWK); err != nil || !st.Trusted {
		t.Fatalf("its registration once confirmed: %+v %v", st, err)
	}
	if _, _, err := rs.Sync(ctx, rp, ""); err != nil {
		t.Fatalf("its sync once confirmed: %v", err)
	}
}

// The bound of unconfirmed key sets had no time window: a replica-token
// holder who filled it kept the replica's new keys out
// (replica_keys_limit) until an admin acted. A set registered
// limits.replica_keys_window ago no longer counts, and the tick drops it
// (audited replica.keys_expired, counted expired); a flood within the
// window is still refused, saying when a slot frees.
func TestUnconfirmedReplicaKeysAreDroppedAfterTheWindow(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startNodeWith(t, daemon.Options{Now: clock.Now})
	n := d.Node
	ctx := context.Background()
	rs := n.Replicas()
	rp := authenticatedReplica(t, rs, addedReplica(t, n, "r1").Token)
	register := func(k replicaKeys) error {
		_, err := rs.Register(ctx, rp, k.encJWK, k.sigJWK)
		return err
	}
	filled := clock.Now()
	var thieves []string
	for range store.MaxReplicaKeyCandidates {
		k := newReplicaKeys(t)
		if err := register(k); err != nil {
			t.Fatal(err)
		}
		thieves = append(thieves, k.fp)
		clock.Add(time.Second)
	}
	own := newReplicaKeys(t)
	window := n.Settings().Limits.ReplicaKeysWindow
	clock.Add(window - time.Duration(len(thieves)+1)*time.Second)
	err := register(own)
	wantReplicaCode(t, "the replica's keys within the window", err, node.EReplicaKeysLimit)
	if free := "dropped at " + filled.Add(window).UTC().Format(time.RFC3339); !strings.Contains(err.Error(), free) {
		t.Errorf("the refusal does not say when a slot frees (%s): %v", free, err)
	}

	clock.Add(time.Second)
	if err := register(own); err != nil {
		t.Fatalf("the replica's keys once the first of the others left the window: %v", err)
	}
	clock.Add(time.Duration(len(thieves)) * time.Second) // all have
	if err := n.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := rs.List(ctx, operator)
	if err != nil || len(l) != 1 || len(l[0].Registered) != 1 || l[0].Registered[0] != own.fp ||
		l[0].KeyChanges != store.MaxReplicaKeyCandidates+1 {
		t.Fatalf("list after the tick: %+v %v; want the replica's keys alone registered", l, err)
	}
	if got := auditOf(t, d, "replica.keys_expired"); len(got) != 1 || got[0].Actor != "system" || got[0].Target != rp.ID ||
		!strings.Contains(got[0].Detail, `"fingerprints":"`+strings.Join(thieves, " ")+`"`) {
		t.Fatalf("drops audited: %+v; want one entry naming %v", got, thieves)
	}
	var m dto.Metric
	if err := n.Metrics().ReplicaKeys.WithLabelValues("expired").Write(&m); err != nil || m.GetCounter().GetValue() != store.MaxReplicaKeyCandidates {
		t.Fatalf("expired key sets counted: %v (%v), want %d", m.GetCounter().GetValue(), err, store.MaxReplicaKeyCandidates)
	}

	// Within the new window the bound holds again.
	for range store.MaxReplicaKeyCandidates - 1 {
		if err := register(newReplicaKeys(t)); err != nil {
			t.Fatal(err)
		}
	}
	wantReplicaCode(t, "a flood within the window", register(newReplicaKeys(t)), node.EReplicaKeysLimit)
}
