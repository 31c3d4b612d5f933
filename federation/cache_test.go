package federation

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestSyncRestoresFromCacheWithNATSDown runs a Sync until it holds
// 440000's keys, content key and revocations, shuts NATS down, and starts
// a fresh State from the cache alone: it verifies 440000's codes and
// knows which are revoked.
func TestSyncRestoresFromCacheWithNATSDown(t *testing.T) {
	t.Parallel()
	f, s, gdc := guangdongPublishing(t)
	putSnapshot(t, gdc, gd, f.snapshot(gd, 2))
	publishRev(t, gdc, gd, 3, f.revocation(gd, 3))
	shc := connectReady(t, s, sh)
	first := f.newSync(shc, sh).run(t)
	first.waitReady(t)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(first.state, gd, 3) })
	first.stop()
	s.Shutdown()
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if shc.Connected() {
			return errors.New("still connected")
		}
		return nil
	})

	// Restarted: a new State, the cache, and no NATS.
	restarted := f.newSync(shc, sh, func(c *SyncConfig) { c.Cache = first.cache })
	if err := restarted.Restore(testCtx(t)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	st := restarted.state
	if tl := st.TrustList(); tl == nil || tl.Version != 1 {
		t.Fatalf("trust list not restored: %+v", tl)
	}
	if ks := st.Keyset(gd); ks == nil || ks.Version != 1 {
		t.Fatalf("keyset not restored: %+v", ks)
	}
	if err := revokedThrough(st, gd, 3); err != nil {
		t.Fatalf("revocations not restored: %v", err)
	}
	if err := restarted.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready with NATS down: %v", err)
	}

	// A code of 440000 verifies, content and all; a revoked one does not.
	p := f.p(gd)
	issuer, err := trust.NewCodeIssuer(gd, p.signer, f.now.Add(14*24*time.Hour), p.ck)
	if err != nil {
		t.Fatal(err)
	}
	content := trust.Content{Status: trust.Green, Name: "张*", Doc: "****1234"}
	good, _, err := issuer.Issue(jti(gd, 100), f.now, f.now.Add(time.Hour), content)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := issuer.Issue(jti(gd, 3), f.now, f.now.Add(time.Hour), content)
	if err != nil {
		t.Fatal(err)
	}
	if r := trust.Verify(good, st.Snapshot(), st, f.now); !r.Valid() || r.Content.Status != trust.Green {
		t.Errorf("good code after restore: %+v", r)
	}
	if r := trust.Verify(revoked, st.Snapshot(), st, f.now); r.Reason != trust.ReasonRevoked {
		t.Errorf("revoked code after restore: %s", r.Reason)
	}
}

// TestRestoreOrdersStatementsAndSkipsWhatNoLongerApplies hands Restore a
// cache in the worst order, with a hole in the deltas and an unrelated
// key, and without a Conn at all.
func TestRestoreOrdersStatementsAndSkipsWhatNoLongerApplies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cache := &MemCache{}
	ctx := testCtx(t)
	for _, c := range []CachedStatement{
		{"440000.revocations.5", f.revocation(gd, 5), 5}, // after a hole: not applied
		{"440000.revocations.3", f.revocation(gd, 3), 3},
		{"440000.revocations.2", f.revocation(gd, 2), 2}, // covered by the snapshot
		{"440000.revsnapshot", f.snapshot(gd, 2), 2},
		{"440000.contentkey.310000", f.grant(gd, sh), 1},
		{"110000.contentkey.310000", f.grant(bj, sh), 1}, // its keyset is not cached
		{"440000.keyset", f.keyset(gd, 1), 1},
		{"440000.heartbeat", f.heartbeat(gd, f.now, 2), 1},
		{"unrelated", []byte("x"), 1},
	} {
		if err := cache.PutStatement(ctx, c.Key, c.Raw, c.Version); err != nil {
			t.Fatal(err)
		}
	}
	u := f.newSync(nil, sh, func(c *SyncConfig) { c.Cache = cache })
	if err := u.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := revokedThrough(u.state, gd, 3); err != nil {
		t.Fatal(err)
	}
	if u.state.RevocationSeq(gd) != 3 || u.state.Revoked(gd, jti(gd, 5)) {
		t.Errorf("seq %d: delta 5 must wait for the missing 4", u.state.RevocationSeq(gd))
	}
	if ids := u.state.ContentKeyIDs(gd); len(ids) != 1 {
		t.Errorf("content keys of %s: %v", gd, ids)
	}
	if ids := u.state.ContentKeyIDs(bj); len(ids) != 0 {
		t.Errorf("content keys of %s without its keyset: %v", bj, ids)
	}
	if err := u.Run(ctx); err == nil {
		t.Error("Run without a Conn succeeded")
	}
}

func TestReadCacheKey(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"trustlist":                "trustlist//0",
		"440000.keyset":            "keyset/440000/0",
		"440000.contentkey.310000": "contentkey/440000/0",
		"440000.revsnapshot":       "revsnapshot/440000/0",
		"440000.revocations.17":    "revocations/440000/17",
		"440000.revocations.x":     "",
		"44000.revocations.1":      "",
		"440000.revocations":       "",
		"whatever":                 "",
	} {
		tp, seq, ok := readCacheKey(key)
		got := ""
		if ok {
			got = fmt.Sprintf("%s/%s/%d", tp.Kind, tp.Province, seq)
		}
		if got != want {
			t.Errorf("readCacheKey(%q) = %q, want %q", key, got, want)
		}
	}
	if k := deltaKey(gd, 17); k != "440000.revocations.17" {
		t.Errorf("deltaKey = %q", k)
	}
}
