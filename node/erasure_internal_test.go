package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// answered is the audit entry of a lookup answered to asker at t.
func answered(t *testing.T, actor string, at time.Time, jti string, found bool) store.AuditEntry {
	t.Helper()
	d, err := json.Marshal(answerDetail{JTI: jti, Found: found})
	if err != nil {
		t.Fatal(err)
	}
	return store.AuditEntry{Time: at, Actor: actor, Action: actionLookupAnswer, Target: "s1", Detail: string(d)}
}

// A deletion's erasures: one per asking province for the codes it was
// given (each once), split at trust.MaxErasureCodes, expiring when the
// province's copy from the newest answer has ended; none for an answer
// that gave nothing, for an actor that is no province, or for a copy
// ended already; and none queued to a province beyond its share
// (maxPendingErasuresPerAsker), nor to any beyond maxPendingErasures.
func TestErasingMakesOneErasurePerProvinceUntilItsCopyEnds(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	e := (&lookups{now: func() time.Time { return now }}).erasing("resident:s1", "s1")
	entries := []store.AuditEntry{
		answered(t, "peer:310000", now.Add(-time.Hour), "code-a", true),
		answered(t, "peer:310000", now.Add(-2*time.Hour), "code-a", true), // asked twice
		answered(t, "peer:310000", now.Add(-3*time.Hour), "code-b", true),
		answered(t, "peer:110000", now.Add(-time.Hour), "code-x", false),                     // nothing given
		answered(t, "operator:1", now.Add(-time.Hour), "code-y", true),                       // not a province
		answered(t, "peer:120000", now.Add(-config.MaxLookupRetention-time.Hour), "c", true), // its copy ended
	}
	for i := range trust.MaxErasureCodes + 1 {
		entries = append(entries, answered(t, "peer:320000", now.Add(-time.Minute), fmt.Sprintf("big-%d", i), true))
	}
	got := e.make(entries, store.ErasuresPending{})
	if len(got) != 3 || e.queued != 3 || len(e.dropped) != 0 {
		t.Fatalf("made %d erasures (queued %d, dropped %d): %+v; want 310000's and 320000's two", len(got), e.queued, len(e.dropped), got)
	}
	sh := got[0]
	if sh.Asker != "310000" || len(sh.Codes) != 2 || sh.Codes[0] != "code-a" || sh.Codes[1] != "code-b" ||
		sh.Subject != "s1" || sh.Actor != "resident:s1" || !sh.Created.Equal(now) ||
		!sh.Expires.Equal(now.Add(-time.Hour+config.MaxLookupRetention+trust.ClockSkew)) {
		t.Errorf("310000's erasure %+v", sh)
	}
	if got[1].Asker != "320000" || len(got[1].Codes) != trust.MaxErasureCodes || got[2].Asker != "320000" || len(got[2].Codes) != 1 {
		t.Errorf("320000's erasures hold %d and %d codes, want %d and 1", len(got[1].Codes), len(got[2].Codes), trust.MaxErasureCodes)
	}

	got = e.make(entries, store.ErasuresPending{Total: maxPendingErasures - 1})
	if len(got) != 1 || e.queued != 1 || len(e.dropped) != 2 {
		t.Fatalf("with room for one: made %d, queued %d, dropped %d; want 1, 1, 2", len(got), e.queued, len(e.dropped))
	}

	// 320000 never acknowledges, and holds its whole share: only its own
	// erasures are dropped. With one outbox-wide cap, a province at it
	// made every other province's erasures be dropped too.
	full := store.ErasuresPending{Total: maxPendingErasuresPerAsker, ByAsker: map[string]int{"320000": maxPendingErasuresPerAsker}}
	got = e.make(entries, full)
	if len(got) != 1 || got[0].Asker != "310000" || len(e.dropped) != 2 || e.dropped[0].Asker != "320000" {
		t.Fatalf("320000's share full: made %+v, dropped %d; want 310000's only, 320000's two dropped", got, len(e.dropped))
	}
	full.ByAsker["320000"]--
	got = e.make(entries, full)
	if len(got) != 2 || got[1].Asker != "320000" || len(e.dropped) != 1 {
		t.Fatalf("room for one of 320000's: made %d, dropped %d; want 310000's and one of 320000's, one dropped", len(got), len(e.dropped))
	}
}

// A province's heartbeat makes its erasures due at once only when it is
// back: heard for the first time, after erasureHeartbeatGap of silence,
// or after its node was not listening at an attempt — and then at most
// once each erasureReviveEvery. The heartbeats of a province that was
// there all along, or that listens without acknowledging, change nothing.
func TestErasuresAreRevivedByAHeartbeatOnlyWhenTheProvinceIsBack(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	s := newErasureSender()
	steps := []struct {
		what   string
		at     time.Duration
		before func()
		want   bool
	}{
		{what: "first heard", at: 0, want: true},
		{what: "its next heartbeat", at: 30 * time.Second},
		{what: "after an attempt it did not acknowledge while listening", at: time.Minute,
			before: func() { s.attempted("310000", fmt.Errorf("receipts: %w", context.DeadlineExceeded)) }},
		{what: "after its node was not listening", at: 90 * time.Second,
			before: func() { s.attempted("310000", fmt.Errorf("receipts: %w", federation.ErrNoResponders)) }, want: true},
		{what: "not listening again, within erasureReviveEvery of a revival", at: 95 * time.Second,
			before: func() {
				s.revivedAt("310000", t0.Add(90*time.Second), 1, nil)
				s.attempted("310000", fmt.Errorf("receipts: %w", federation.ErrNoResponders))
			}},
		{what: "its next heartbeat after erasureReviveEvery", at: 90*time.Second + erasureReviveEvery, want: true},
		{what: "acknowledged since", at: 110 * time.Second, before: func() { s.attempted("310000", nil) }},
		{what: "after a silence longer than erasureHeartbeatGap", at: 110*time.Second + erasureHeartbeatGap + time.Second, want: true},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		if got := s.heartbeat("310000", t0.Add(st.at)); got != st.want {
			t.Errorf("%s: revive = %v, want %v", st.what, got, st.want)
		}
	}
	if got := s.heartbeat("110000", t0); !got {
		t.Error("another province, first heard: not revived")
	}

	// A revival waits while a sender works for the province.
	s.busy["110000"] = true
	if got := s.takeRevived(); !slices.Equal(got, []string{"310000"}) {
		t.Errorf("revived %v, want 310000 only (110000 has a sender)", got)
	}
	delete(s.busy, "110000")
	if got := s.takeRevived(); !slices.Equal(got, []string{"110000"}) {
		t.Errorf("revived %v once its sender ended, want 110000", got)
	}
	s.revivedAt("110000", t0, 0, errors.New("disk full"))
	if got := s.takeRevived(); !slices.Equal(got, []string{"110000"}) {
		t.Errorf("revived %v after a revival failed, want 110000 again", got)
	}
}

// A sender's pace (erasureSendRate, erasureSendBurst) never takes more
// than the receiving province's limit (erasureRate, erasureBurst) lets
// through: not when some erasures arrive a second late and those after
// them bunch up behind, nor when the sender restarts with a full pace
// while the province still counts the burst of the sender before (a
// pace as large as the limit was refused there at once).
func TestErasurePaceStaysWithinTheReceiversLimit(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		late  func(i int) time.Duration // how late erasure i arrives
		spent int                       // of the province's burst, when the sender starts
	}{
		{name: "one in ten a second late", late: func(i int) time.Duration { return time.Duration(i%10/9) * time.Second }},
		{name: "a restart", late: func(int) time.Duration { return time.Millisecond }, spent: erasureSendBurst},
	} {
		recv := newPeerLimiter(erasureRate, erasureBurst, func(string) bool { return true })
		for range c.spent {
			recv.allow("440000", t0)
		}
		s := newErasureSender()
		var sent, arrived time.Time = t0, t0
		for i := range 2000 {
			// Each erasure is sent at its pace, once the one before was
			// acknowledged (at its arrival).
			sent = maxTime(sent, arrived)
			lim := s.pacer("440000")
			sent = sent.Add(lim.ReserveN(sent, 1).DelayFrom(sent))
			arrived = maxTime(arrived, sent.Add(c.late(i)))
			if !recv.allow("440000", arrived) {
				t.Fatalf("%s: erasure %d, sent %v after the first, refused", c.name, i, sent.Sub(t0))
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// A sender stopped while it waits for its pace (the node stops) gives
// its reservation back: the erasure was not sent, and the next sender to
// that province may send when the pace allows, not a token later for
// each sender stopped so. The pace of a province no sender works for is
// forgotten once it is full again, as a new one would be, so provinces
// that no longer get erasures (one that left the trust list) do not stay
// in the map; a province's pace is kept while it is spent or its sender
// works.
func TestErasurePaceIsGivenBackByAStoppedSenderAndPrunedWhenFull(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0 }
	s := newErasureSender()
	for i := range erasureSendBurst {
		if !s.paced(t.Context(), "440000", clock) {
			t.Fatalf("erasure %d of the burst not paced", i)
		}
	}
	stopped, cancel := context.WithCancel(t.Context())
	cancel()
	for range 3 {
		if s.paced(stopped, "440000", clock) {
			t.Fatal("a sender whose context ended was let send")
		}
	}
	if got := s.pacer("440000").TokensAt(t0); got != 0 {
		t.Fatalf("the pace holds %.0f tokens after three senders stopped while waiting; want 0: their reservations given back", got)
	}

	// 310000's pace is spent by one erasure, and its sender still works.
	if !s.paced(t.Context(), "310000", clock) {
		t.Fatal("310000 not paced")
	}
	s.busy["310000"] = true
	s.prunePace(t0)
	if len(s.pace) != 2 {
		t.Fatalf("pruned with both paces spent: %d left, want 2", len(s.pace))
	}
	full := t0.Add(time.Minute) // the burst refills in erasureSendBurst/erasureSendRate, under 3 s
	s.prunePace(full)
	if _, ok := s.pace["440000"]; ok || len(s.pace) != 1 {
		t.Fatalf("after the paces filled again, %d held (440000 held: %v); want only 310000, whose sender works", len(s.pace), ok)
	}
	delete(s.busy, "310000")
	s.prunePace(full)
	if len(s.pace) != 0 {
		t.Fatalf("%d paces held with no sender working and every pace full; want none", len(s.pace))
	}
}

// What the sender knows of a province (its last heartbeat, whether it is
// away, its revivals) is forgotten once the province leaves the trust
// list, and kept for the provinces still listed: before, the maps kept
// every province the node had ever heard from, for the node's life.
func TestErasureSenderForgetsProvincesNoLongerListed(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	s := newErasureSender()
	for _, a := range []string{"440000", "990000"} {
		s.heartbeat(a, t0)
		s.attempted(a, federation.ErrNoResponders)
		s.revivedAt(a, t0, 1, nil)
		s.revivedAt(a, t0, 0, errors.New("database busy"))
	}
	held := func(a string) []string {
		var in []string
		if _, ok := s.heard[a]; ok {
			in = append(in, "heard")
		}
		if s.away[a] {
			in = append(in, "away")
		}
		if _, ok := s.revived[a]; ok {
			in = append(in, "revived")
		}
		if s.revive[a] {
			in = append(in, "revive")
		}
		return in
	}
	if got := held("990000"); len(got) != 4 {
		t.Fatalf("990000 is in %v before it left; want all four maps: this test checks nothing", got)
	}
	s.forgetUnlisted(func(a string) bool { return a == "440000" })
	if got := held("990000"); len(got) != 0 {
		t.Errorf("990000, no longer listed, is still in %v", got)
	}
	if got := held("440000"); len(got) != 4 {
		t.Errorf("440000, still listed, is in %v only; want all four maps", got)
	}
}
