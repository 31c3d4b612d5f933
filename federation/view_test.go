package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// clock is a test clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestViewReportsMembersAndFreshness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clk := newClock(f.now)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	put(t, gdc, "440000.contentkey.310000", f.grant(gd, sh))
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, f.now, 4))
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Now = clk.now }).run(t)
	u.waitReady(t)

	v := u.View()
	if !v.Ready || !v.Connected || v.Self != sh {
		t.Errorf("view header %+v", v)
	}
	if tl := v.TrustList; tl == nil || tl.Version != 1 || tl.ExpiresSoon || tl.Federation != testFed {
		t.Fatalf("trust list %+v", tl)
	}
	ids := []string{}
	for _, m := range v.Members {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []string{bj, sh, gd}) {
		t.Fatalf("members %v", ids)
	}
	g := v.Members[2]
	if g.Name != "province 440000" || g.Status != "active" || g.KeysetVersion != 1 || g.RevocationSeq != 1 ||
		!slices.Equal(g.ContentKeys, []string{f.p(gd).ck.ID}) || g.Stale || g.RevocationLag != 3 {
		t.Errorf("440000: %+v", g)
	}
	if hb := g.Heartbeat; hb == nil || hb.RevocationSeq != 4 || hb.KeysetVersion != 1 || !hb.At.Equal(time.Unix(f.now.Unix(), 0)) {
		t.Errorf("440000's heartbeat: %+v", hb)
	}
	if b := v.Members[0]; !b.Stale || b.Heartbeat != nil || b.KeysetVersion != 0 {
		t.Errorf("110000, never heard from: %+v", b)
	}
	if !slices.Contains(v.Warnings, "no recent heartbeat from 110000") || slices.Contains(v.Warnings, "no recent heartbeat from 440000") {
		t.Errorf("warnings %q", v.Warnings)
	}
	requireWarningsInStep(t, v)

	// Three minutes without a heartbeat: 440000 is stale. A new one
	// makes it fresh again; a replayed old one is refused.
	clk.advance(3 * time.Minute)
	if g := u.View().Members[2]; !g.Stale || g.Heartbeat.AgeSeconds < 180 {
		t.Errorf("after 3 minutes: %+v", g)
	}
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, clk.now(), 5))
	u.waitOutcome(t, "heartbeat/ok", 2)
	if g := u.View().Members[2]; g.Stale || g.Heartbeat.RevocationSeq != 5 {
		t.Errorf("after a new heartbeat: %+v", g)
	}
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, f.now, 4))
	u.waitOutcome(t, "heartbeat/rollback", 1)

	// The JSON is what GET /v1/federation serves.
	b, err := json.Marshal(u.View())
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"trust_list":{"federation":"demo","version":1,`, `"expires_soon":false`, `"keyset_version":1`,
		`"content_keys":["440000/`, `"revocation_seq":1`, `"stale":false`, `"heartbeat":null`, `"age_seconds":`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
}

func TestViewWarnsOfExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.newSync(nil, sh, func(c *SyncConfig) { c.ExpiryWarning = 31 * 24 * time.Hour })
	if v := u.View(); v.TrustList != nil || !slices.Equal(v.Warnings, []string{"no trust list held"}) || v.Ready {
		t.Fatalf("view without a trust list: %+v", v)
	} else if w := requireWarningsInStep(t, v)[WarningNoTrustList]; len(w) != 1 || len(w[0].Params) != 0 {
		t.Errorf("without a trust list: %+v", v.WarningDetails)
	}
	if err := u.Restore(testCtx(t)); err != nil { // applies the pinned list
		t.Fatal(err)
	}
	if err := u.state.ApplyKeyset(gd, string(f.keyset(gd, 1)), f.now); err != nil {
		t.Fatal(err)
	}
	v := u.View()
	if !v.TrustList.ExpiresSoon || !v.Members[2].KeysetExpiresSoon {
		t.Errorf("trust list expiring in 30 days, keyset in 7, warning 31 days ahead: %+v %+v", v.TrustList, v.Members[2])
	}
	var expiring int
	for _, w := range v.Warnings {
		if strings.Contains(w, "expires") {
			expiring++
		}
	}
	if expiring != 2 {
		t.Errorf("warnings %q", v.Warnings)
	}
	requireCodedWarnings(t, v)
}

func TestSyncMarksStateSynced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clk := newClock(f.now)
	s := runServer(t)
	const limit = time.Hour
	st := f.staleLimitedState(sh, limit)
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) {
		c.State, c.Now, c.SyncInterval = st, clk.now, 10*time.Millisecond
	})
	if !st.Snapshot().StaleAfter.IsZero() {
		t.Fatal("stale limit set before any sync")
	}
	u.run(t).waitReady(t)
	if got, want := st.Snapshot().StaleAfter, clk.now().Add(limit); !got.Equal(want) {
		t.Fatalf("after catch-up StaleAfter = %s, want %s", got, want)
	}
	clk.advance(30 * time.Minute)
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got, want := st.Snapshot().StaleAfter, clk.now().Add(limit); !got.Equal(want) {
			return fmt.Errorf("StaleAfter = %s, want %s", got, want)
		}
		return nil
	})

	// Disconnected, it stops confirming: the limit runs out.
	s.Shutdown()
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if err := u.Ready(); !errors.Is(err, ErrNotReady) {
			return fmt.Errorf("Ready while disconnected: %v", err)
		}
		return nil
	})
	before := st.Snapshot().StaleAfter
	clk.advance(30 * time.Minute)
	u.syncTick()
	if got := st.Snapshot().StaleAfter; !got.Equal(before) {
		t.Errorf("StaleAfter moved to %s while disconnected", got)
	}
}

// A node is told of another province's heartbeat when it is fresh, so it
// can send that province what waited for it (erasures): not of a stale
// one (the province may be gone for hours), not of its own, and not of
// one older than the heartbeat held.
func TestSyncTellsOfFreshPeerHeartbeatsOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clk := newClock(f.now)
	s := runServer(t)
	gdc, shc := connectReady(t, s, gd), connectReady(t, s, sh)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	put(t, shc, "310000.keyset", f.keyset(sh, 1))
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, f.now.Add(-3*time.Minute), 1)) // stale
	put(t, shc, "310000.heartbeat", f.heartbeat(sh, f.now, 1))                     // its own
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Now = clk.now }).run(t)
	u.waitReady(t)
	u.waitOutcome(t, "heartbeat/ok", 2)

	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, f.now, 2))
	u.beats.waitLen(t, 1)
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, f.now.Add(-time.Minute), 3)) // older than the one held
	u.waitOutcome(t, "heartbeat/rollback", 1)
	clk.advance(30 * time.Second)
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, clk.now(), 4))
	u.beats.waitLen(t, 2)
	// Statements are processed one at a time: the calls for the earlier
	// heartbeats, had there been any, came before.
	if got := u.beats.all(); !slices.Equal(got, []string{gd, gd}) {
		t.Errorf("OnPeerHeartbeat calls %v, want [%s %s]: the two fresh heartbeats of %s only", got, gd, gd, gd)
	}
}

// A Sync saves when it last confirmed the State current in a Cache that
// keeps it (SyncRecorder), and Restore gives that time to a new State: a
// node restarted while NATS is unreachable answers trust_stale once
// trust.stale_limit has passed since its last contact with the
// federation, where before the restored State applied no limit at all.
func TestRestoreGivesTheStateTheTimeOfTheLastSync(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clk := newClock(f.now)
	s := runServer(t)
	const limit = time.Hour
	cache := &MemCache{}
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.State, c.Now, c.Cache = f.staleLimitedState(sh, limit), clk.now, cache })
	u.run(t).waitReady(t)
	synced := clk.now()
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got, _ := cache.LastSynced(testCtx(t)); !got.Equal(synced) {
			return fmt.Errorf("last sync saved: %s, want %s", got, synced)
		}
		return nil
	})
	u.stop()

	clk.advance(2 * limit)
	restarted := f.newSync(nil, sh, func(c *SyncConfig) { c.State, c.Now, c.Cache = f.staleLimitedState(sh, limit), clk.now, cache })
	if err := restarted.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := restarted.state.Snapshot().StaleAfter, synced.Add(limit); !got.Equal(want) {
		t.Fatalf("restored StaleAfter = %s, want the last sync plus the limit, %s", got, want)
	}
}

// staleLimitedState is a new State of province self, under the fixture's
// pinned trust list, that answers trust_stale limit after its last sync.
func (f *fixture) staleLimitedState(self string, limit time.Duration) *trust.State {
	f.t.Helper()
	st, err := trust.NewState(trust.StateConfig{Self: self, EncKey: f.p(self).enc, PinnedSHA256: f.pinnedSHA256(), StaleLimit: limit})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}
