package node

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/trust"
)

// TestPeerLimiterGivesOnlyListedProvincesABucket pins that a flood of
// messages naming made-up provinces cannot grow the per-province rate
// limiter: they share one bucket, while each listed province keeps its
// own, untouched by the flood and by each other.
func TestPeerLimiterGivesOnlyListedProvincesABucket(t *testing.T) {
	listed := map[string]bool{"440000": true, "310000": true}
	const burst = 3
	l := newPeerLimiter(1, burst, func(p string) bool { return listed[p] })
	now := time.Unix(1_800_000_000, 0)
	for i := range 10_000 {
		l.allow(strconv.Itoa(100000+i), now)
	}
	if len(l.m) > len(listed)+1 {
		t.Fatalf("%d limiter entries after 10000 unlisted province ids, want at most %d", len(l.m), len(listed)+1)
	}
	if l.allow("999999", now) {
		t.Fatal("an unlisted province got past the shared bucket the flood emptied")
	}
	for range burst {
		if !l.allow("440000", now) {
			t.Fatal("a listed province was limited by the unlisted flood")
		}
	}
	if l.allow("440000", now) {
		t.Fatal("a listed province past its burst was allowed")
	}
	if !l.allow("310000", now) {
		t.Fatal("one listed province's burst limited another's")
	}
}

// An envelope refused after opening is refused unopened when it comes
// again, in the same province's name only, until maxSeen newer ones push
// it out; every refused opening spends the province's budget, and a
// spent budget refuses a new envelope unopened.
func TestOpenGuardRemembersRefusedEnvelopesAndSpendsTheBudget(t *testing.T) {
	g := newOpenGuard(func(string) bool { return true })
	g.maxSeen = 3
	now := time.Unix(1_800_000_000, 0)
	env := func(i int) []byte { return []byte("hdr" + strconv.Itoa(i) + ".k.iv.ct.tag") }
	refuse := func(from string, raw []byte) { g.refused(from, envelopeKey(from, raw), now) }
	may := func(from string, raw []byte, at time.Time) error { _, err := g.mayOpen(from, raw, at); return err }
	refuse("440000", env(0))
	if err := may("440000", env(0), now); err != errEnvelopeRefused {
		t.Fatalf("a refused envelope again: %v, want errEnvelopeRefused", err)
	}
	if err := may("310000", env(0), now); err != nil {
		t.Fatalf("the same envelope in another province's name: %v, want it opened", err)
	}
	for i := 1; i <= 3; i++ {
		refuse("440000", env(i))
	}
	if err := may("440000", env(0), now); err != nil {
		t.Fatalf("an envelope pushed out by %d newer: %v, want it opened", g.maxSeen, err)
	}
	for i := 4; i < openRefusedBurst; i++ {
		refuse("440000", env(i))
	}
	if err := may("440000", env(1000), now); err != errOpeningsSpent {
		t.Fatalf("a new envelope once %d openings were refused: %v, want errOpeningsSpent", openRefusedBurst, err)
	}
	if err := may("310000", env(1000), now); err != nil {
		t.Fatalf("another province's message while one's budget is spent: %v", err)
	}
	if err := may("440000", env(1000), now.Add(time.Second)); err != nil {
		t.Fatalf("a second later: %v, want the budget refilled by one", err)
	}
}

// A message that opened and verified, refused only because its sender's
// replay room is full (rate_limited), spends none of the budget of
// refused openings: a province's own burst of lookups must not have its
// receipts and erasures refused unopened. A forgery still spends it.
func TestIntakeChargesNoOpeningForAVerifiedMessageBeyondItsReplayRoom(t *testing.T) {
	listed := func(string) bool { return true }
	guard := newOpenGuard(listed)
	in := newPeerIntake("test", 1, 1, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_events"}, []string{"event"}),
		guard, listed)
	now := time.Unix(1_800_000_000, 0)
	env := func(i int) []byte { return []byte("hdr" + strconv.Itoa(i) + ".k.iv.ct.tag") }
	roomFull := &trust.Error{Reason: trust.ReasonRateLimited, Detail: "room full"}
	for i := range 2 * openRefusedBurst {
		if err := in.open("440000", env(i), now, func() error { return roomFull }); err != roomFull {
			t.Fatalf("message %d: %v, want the replay room's refusal", i, err)
		}
	}
	if _, err := guard.mayOpen("440000", env(1000), now); err != nil {
		t.Fatalf("after %d verified messages beyond the replay room: %v, want the budget whole", 2*openRefusedBurst, err)
	}
	forged := &trust.Error{Reason: trust.ReasonBadSignature}
	for i := range openRefusedBurst {
		in.open("440000", env(2000+i), now, func() error { return forged })
	}
	if _, err := guard.mayOpen("440000", env(3000), now); err != errOpeningsSpent {
		t.Fatalf("after %d forgeries: %v, want errOpeningsSpent", openRefusedBurst, err)
	}
}
