package federation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hcfed/hcfed/trust"
)

// signDeltas signs p's deltas from..to (inclusive), each revoking one
// code, on every CPU at once.
func (f *fixture) signDeltas(p string, from, to uint64) [][]byte {
	f.t.Helper()
	out := make([][]byte, to-from+1)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				next.Lock()
				n := i
				i++
				next.Unlock()
				if n >= len(out) {
					return
				}
				seq := from + uint64(n)
				raw, err := f.p(p).signer.Sign(trust.TypRevocation, trust.Revocation{Issuer: p, Seq: seq,
					IssuedAt: f.now.Unix(), Entries: f.entries(p, int(seq), int(seq)+1)})
				if err != nil {
					errs <- err
					return
				}
				out[n] = []byte(raw)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		f.t.Fatal(err)
	}
	return out
}

// publishDeltas publishes p's deltas, numbered from first, without
// waiting for each ack: setting up a long stream quickly.
func publishDeltas(t testing.TB, c *Conn, p string, first uint64, raws [][]byte) {
	t.Helper()
	subject, err := Topic{Kind: KindRevocations, Province: p}.Subject(c.fed)
	if err != nil {
		t.Fatal(err)
	}
	for i, raw := range raws {
		id := revocationMsgID(p, first+uint64(i), raw)
		if _, err := c.js.PublishAsync(subject, raw, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
		if i%1024 == 1023 { // below nats.go's default of 4,000 pending async publishes
			waitPublished(t, c)
		}
	}
	waitPublished(t, c)
}

func waitPublished(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatal("async publishes not acknowledged")
	}
}

// putSnapshot stores p's snapshot through c.
func putSnapshot(t testing.TB, c *Conn, p string, raw []byte) {
	t.Helper()
	if err := c.PutSnapshot(testCtx(t), p, raw); err != nil {
		t.Fatalf("PutSnapshot(%s): %v", p, err)
	}
}

// revokedThrough reports an error unless p's codes 1..n are all revoked.
func revokedThrough(st *trust.State, p string, n int) error {
	for i := 1; i <= n; i++ {
		if !st.Revoked(p, jti(p, i)) {
			return fmt.Errorf("code %d of %s not revoked (seq held %d)", i, p, st.RevocationSeq(p))
		}
	}
	return nil
}

// gdAtDelta1 starts a server on which gd's node has published its keyset
// and its first revocation delta.
func (f *fixture) gdAtDelta1(t *testing.T) (*Server, *Conn) {
	t.Helper()
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	return s, gdc
}

// caughtUpAfterDelta1 starts a server where 440000 has published its
// keyset and delta 1, and a 310000 Sync that has caught up on them.
func (f *fixture) caughtUpAfterDelta1(t *testing.T, opts ...syncOpts) (*Conn, *syncUnderTest) {
	t.Helper()
	s, gdc := f.gdAtDelta1(t)
	u := f.newSync(connectReady(t, s, sh), sh, opts...).run(t)
	u.waitReady(t)
	if err := revokedThrough(u.state, gd, 1); err != nil {
		t.Fatal(err)
	}
	return gdc, u
}

func TestSyncFillsGapFromSnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u := f.caughtUpAfterDelta1(t)

	// Deltas 2 and 3 are lost; the snapshot at 3 covers them. Delta 4 is
	// the first this peer hears of it.
	putSnapshot(t, gdc, gd, f.snapshot(gd, 3))
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
	if st := u.Stats(); st.Gaps != 1 || st.SnapshotsApplied != 1 || st.Blocked != 0 || st.Parked != 0 {
		t.Errorf("stats %+v", st)
	}
	// The cache is written off the lock, after the state changed.
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if c, ok := u.cache.Get("440000.revsnapshot"); !ok || c.Version != 3 {
			return fmt.Errorf("snapshot cached: %+v, %v", c, ok)
		}
		if _, ok := u.cache.Get("440000.revocations.1"); ok {
			return errors.New("delta 1 still cached after the snapshot at 3 covering it")
		}
		if _, ok := u.cache.Get("440000.revocations.4"); !ok {
			return errors.New("delta 4 not cached")
		}
		return nil
	})
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if c, _ := u.cache.RevocationCursor(t.Context()); c != 2 {
			return fmt.Errorf("cursor %d, want 2 (both stream messages handled)", c)
		}
		return nil
	})
}

// TestSyncRequestsFreshSnapshotWhenStoredOneIsTooOld has the stored
// snapshot older than the gap: the peer asks 440000 for a fresh one.
func TestSyncRequestsFreshSnapshotWhenStoredOneIsTooOld(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	putSnapshot(t, gdc, gd, f.snapshot(gd, 1))
	var published recorder[uint64]
	err := gdc.ServeSnapshotRequests(testCtx(t), func(ctx context.Context) error {
		published.add(5)
		return gdc.PutSnapshot(ctx, gd, f.snapshot(gd, 5))
	})
	if err != nil {
		t.Fatal(err)
	}
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)
	if err := revokedThrough(u.state, gd, 1); err != nil {
		t.Fatal(err)
	}

	// Deltas 2..4 are lost, and so is the snapshot that covered them.
	publishRev(t, gdc, gd, 5, f.revocation(gd, 5))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 5) })
	if got := published.all(); len(got) != 1 {
		t.Errorf("home node published %d snapshots on request, want 1", len(got))
	}
	if st := u.Stats(); st.Gaps != 1 || st.SnapshotRequests < 1 || st.Blocked != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSyncGapDoesNotBlockOtherProvinces leaves 440000's gap unfillable:
// 110000's deltas still apply, and the cursor stays before the gap.
func TestSyncGapDoesNotBlockOtherProvinces(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	bjc := connectReady(t, s, bj)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	put(t, bjc, "110000.keyset", f.keyset(bj, 1))
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)

	publishRev(t, gdc, gd, 3, f.revocation(gd, 3)) // 1 and 2 lost, no snapshot, no home node
	publishRev(t, bjc, bj, 1, f.revocation(bj, 1))
	publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
	publishRev(t, bjc, bj, 2, f.revocation(bj, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, bj, 2) })
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Blocked != 1 || st.Parked != 2 || st.SnapshotRequests < 1 || st.Cursor != 0 {
			return fmt.Errorf("stats %+v: want 440000 blocked with 2 parked, a request sent, cursor 0", st)
		}
		return nil
	})
	if u.state.Revoked(gd, jti(gd, 3)) {
		t.Error("delta 3 applied across a gap")
	}

	// The home node comes back and publishes its snapshot: all resolves.
	putSnapshot(t, gdc, gd, f.snapshot(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Blocked != 0 || st.Parked != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestSyncParksBoundedAndVerifiesWhatItDrops fills a blocked province's
// parking with more deltas than it holds. The overflow is dropped, its
// highest seq remembered so that only a snapshot that new unblocks the
// province; a forged delta claiming a far higher seq is verified before
// it can raise that bar.
func TestSyncParksBoundedAndVerifiesWhatItDrops(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gdc, u := f.caughtUpAfterDelta1(t)

	const dropped = 10
	last := uint64(2 + maxParked + dropped) // delta 2 is lost
	publishDeltas(t, gdc, gd, 3, f.signDeltas(gd, 3, last))
	publishRev(t, gdc, gd, 1_000_000, f.revocationOf(bj, 1_000_000, f.entries(gd, 0, 1)))
	u.waitOutcome(t, "revocations/unknown_key", 1) // signed by 110000's key
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Parked != maxParked || st.ParkedDropped != dropped || st.Blocked != 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})

	putSnapshot(t, gdc, gd, f.snapshot(gd, last))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, int(last)) })
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st := u.Stats(); st.Blocked != 0 || st.Parked != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestSyncCatchesUpFromSnapshotSkippingCoveredDeltas is the catch-up of
// a fresh node: the snapshot is applied and every delta it covers is
// skipped without a signature check. BenchmarkCatchUp100k does the same
// at scale.
func TestSyncCatchesUpFromSnapshotSkippingCoveredDeltas(t *testing.T) {
	t.Parallel()
	const n = 5000
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	publishDeltas(t, gdc, gd, 1, f.signDeltas(gd, 1, n+5))
	putSnapshot(t, gdc, gd, f.snapshot(gd, n))

	start := time.Now()
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)
	took := time.Since(start)
	if err := revokedThrough(u.state, gd, n+5); err != nil {
		t.Fatal(err)
	}
	st := u.Stats()
	if st.Skipped != n || u.outcomes.count("revocations/ok") != 5 || st.SnapshotsApplied != 1 {
		t.Errorf("stats %+v, %d deltas verified: want %d skipped unverified and 5 applied", st, u.outcomes.count("revocations/ok"), n)
	}
	t.Logf("caught up on %d revocations in %s", n+5, took)

	// A restart resumes after the saved cursor: nothing is read twice.
	u.stop()
	again := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Cache = u.cache })
	again.cache = u.cache
	if err := again.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := revokedThrough(again.state, gd, n+5); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	publishRev(t, gdc, gd, n+6, f.revocation(gd, n+6))
	again.run(t).waitReady(t)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(again.state, gd, n+6) })
	if st := again.Stats(); st.Skipped != 0 || again.outcomes.count("revocations/ok") != 1 {
		t.Errorf("after restart: stats %+v, %d applied; want only the new delta read", st, again.outcomes.count("revocations/ok"))
	}
}

// BenchmarkCatchUp100k measures a fresh node catching up on 100,000
// revocations of one province: from Run to Ready with every code revoked.
// "snapshot" has a snapshot covering them all (the designed path);
// "deltas" has none, so every delta is verified, for comparison.
//
//	go test -run '^$' -bench CatchUp100k -benchtime 3x ./federation
func BenchmarkCatchUp100k(b *testing.B) {
	benchCatchUp(b, 100_000, 120*time.Second, nil)
}

// benchCatchUp measures a fresh node catching up on n revocations of gd,
// with a snapshot covering them and without. cache, if not nil, makes the
// node's statement cache and a check that all it must hold was written
// (else the fixture's MemCache, unchecked). It reports seconds per
// catch-up, and deltas per second for the deltas.
func benchCatchUp(b *testing.B, n int, timeout time.Duration, cache func(b *testing.B, n int) (Cache, func(*syncUnderTest) error)) {
	f := newFixture(b)
	deltas := f.signDeltas(gd, 1, uint64(n))
	snap := f.snapshot(gd, uint64(n))
	for _, withSnapshot := range []bool{true, false} {
		name := "deltas"
		if withSnapshot {
			name = "snapshot"
		}
		b.Run(name, func(b *testing.B) {
			if withSnapshot {
				if err := f.checkSnapshotLimit(snap); err != nil {
					b.Skipf("trust refuses a %d-byte snapshot (%v): its snapshot size limit must be raised", len(snap), err)
				}
			}
			s := runServer(b)
			gdc := connectReady(b, s, gd)
			put(b, gdc, "440000.keyset", f.keyset(gd, 1))
			publishDeltas(b, gdc, gd, 1, deltas)
			if withSnapshot {
				putSnapshot(b, gdc, gd, snap)
			}
			var total time.Duration
			for b.Loop() {
				var c Cache
				var written func(*syncUnderTest) error
				if cache != nil {
					c, written = cache(b, n)
				}
				u := f.newSync(connectReady(b, s, sh), sh, func(cfg *SyncConfig) {
					cfg.Logger = nil
					if c != nil {
						cfg.Cache = c
					}
				})
				start := time.Now()
				u.run(b)
				checkFor(b, timeout, time.Millisecond, func() error {
					if err := u.Ready(); err != nil {
						return err
					}
					if err := revokedThrough(u.state, gd, n); err != nil {
						return err
					}
					if written != nil {
						return written(u)
					}
					return nil
				})
				total += time.Since(start)
				u.stop()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/catchup")
			if !withSnapshot {
				b.ReportMetric(float64(n*b.N)/total.Seconds(), "deltas/s")
			}
		})
	}
}

// checkSnapshotLimit reports whether trust accepts a snapshot this large.
func (f *fixture) checkSnapshotLimit(raw []byte) error {
	keys := map[string]*trust.Key{f.p(gd).signer.KeyID(): {ID: f.p(gd).signer.KeyID(), State: trust.KeyActive,
		Public: f.p(gd).signer.Public(), Expires: f.now.Add(time.Hour)}}
	if _, err := trust.ParseRevocationSnapshot(raw, gd, keys); trust.ReasonOf(err) == trust.ReasonOversized {
		return err
	}
	return nil
}

// TestSyncKeepsGenuineDeltaParkedAfterForgedOneOfSameSeq parks, behind a
// gap, a forged delta 4 and then the genuine delta 4. Once a snapshot
// fills the gap the genuine delta is applied: a message that fails its
// signature is refused, and one whose kid 440000's keyset does not hold
// (which could wait for a keyset) is covered by the genuine delta rather
// than holding it up. Neither can make the province's real revocation of
// that seq be dropped unverified.
func TestSyncKeepsGenuineDeltaParkedAfterForgedOneOfSameSeq(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	d3 := string(f.revocation(gd, 3))
	forged := string(f.revocationOf(gd, 4, f.entries(gd, 0, 1)))
	for _, tc := range []struct {
		name    string
		forged  []byte
		refused string // kind/reason reported for the forgery, if any
	}{
		{"bad signature", []byte(forged[:strings.LastIndexByte(forged, '.')] + d3[strings.LastIndexByte(d3, '.'):]), "revocations/bad_signature"},
		{"unknown kid", f.revocationOf(bj, 4, f.entries(gd, 0, 1)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := runServer(t)
			gdc := connectReady(t, s, gd)
			bjc := connectReady(t, s, bj)
			put(t, gdc, "440000.keyset", f.keyset(gd, 1))
			put(t, bjc, "110000.keyset", f.keyset(bj, 1))
			publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
			u := f.newSync(connectReady(t, s, sh), sh).run(t)
			u.waitReady(t)

			publishRev(t, gdc, gd, 3, []byte(d3)) // delta 2 is lost: 440000 blocks
			publishRev(t, gdc, gd, 4, tc.forged)
			publishRev(t, gdc, gd, 4, f.revocation(gd, 4))
			publishRev(t, bjc, bj, 1, f.revocation(bj, 1)) // handled after every delta above
			checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, bj, 1) })

			putSnapshot(t, gdc, gd, f.snapshot(gd, 2))
			if tc.refused != "" {
				u.waitOutcome(t, tc.refused, 1)
			}
			checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 4) })
			if u.state.Revoked(gd, jti(gd, 0)) {
				t.Error("the forged delta was applied")
			}
			if st := u.Stats(); st.Blocked != 0 || st.Parked != 0 {
				t.Errorf("stats %+v: want nothing blocked or parked", st)
			}
		})
	}
}
