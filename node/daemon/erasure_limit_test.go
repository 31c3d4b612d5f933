package daemon_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
)

// startErasureFedRetryingLate starts an erasureFed whose nodes wait 2 s
// for an acknowledgement, and try an erasure dropped unacknowledged
// again only after a minute: long past the waits of the tests here.
func startErasureFedRetryingLate(t *testing.T) *erasureFed {
	t.Helper()
	return startErasureFedWith(t, daemon.ClusterConfig{ErasureRetry: backoff.Policy{Min: time.Minute, Max: time.Minute},
		ErasureAckTimeout: 2 * time.Second})
}

// flood publishes msg() on Shanghai's receipts subject in province's
// name each interval until the test ends (floodSubject), and returns how
// many it published.
func (f *erasureFed) flood(province string, every time.Duration, msg func() []byte) *atomic.Int64 {
	f.t.Helper()
	return floodSubject(f.t, f.c, "hcfed.demo."+province+".receipts.310000", every, msg)
}

// requireErasedAtOnce has the looked-up resident delete their record,
// and checks that Guangdong's erasure was acknowledged at its first
// attempt.
func (f *erasureFed) requireErasedAtOnce() {
	f.t.Helper()
	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	f.requireShanghaiErased()
	if v := metricValue(f.t, f.c.Nodes[gd], `hcfed_erasures_total{event="failed"}`); v != 0 {
		f.t.Errorf(`hcfed_erasures_total{event="failed"} = %v, want 0: the erasure was not acknowledged at once`, v)
	}
}

// A province sending receipts at (and past) their rate limit does not
// hold back its erasures: they have a limit of their own. With one
// shared limit, Shanghai dropped Guangdong's erasure unopened while
// Guangdong's receipts had used it up, and Guangdong waited out the
// acknowledgement timeout and its backoff before trying again.
func TestErasureIsNotHeldBackByItsProvincesReceiptsAtTheirLimit(t *testing.T) {
	f := startErasureFedRetryingLate(t)
	// Guangdong's own receipts, each signed and fresh (only those are
	// charged to its allowance), 200 a second: far past their limit.
	shEnc := f.c.Nodes[gd].Node.State().Keyset("310000").EncKey
	f.flood("440000", 5*time.Millisecond, func() []byte {
		return sealedReceipt(t, f.c.Nodes[gd].Node.Signer(), "440000", "310000", f.clock.Now(), shEnc)
	})
	// Let the flood spend the receipts' burst (20) first.
	waitFor(t, "Guangdong's receipts spending their allowance at Shanghai", func() error {
		if v := metricValue(t, f.c.Nodes[sh], `hcfed_receipts_total{event="limited"}`); v < 5 {
			return fmt.Errorf("%v past the limit", v)
		}
		return nil
	})
	f.requireErasedAtOnce()
}

// Anyone able to publish on Shanghai's receipts subject in Guangdong's
// name (a NATS permission left too wide) floods it with messages whose
// envelope says "erasure" and that are none. They are refused, counted
// and logged a few times only, and spend nothing of Guangdong's erasure
// allowance: Guangdong's real erasure is applied at once. When the limit
// was charged before the signature was checked, the flood spent it and
// Shanghai dropped the real erasure unopened, and Guangdong waited out
// its acknowledgement timeout and its backoff.
func TestErasureIsNotHeldBackByForgedErasuresInItsProvincesName(t *testing.T) {
	f := startErasureFedRetryingLate(t)
	forged := []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"hcfed-erasure+jwe"}`)) + ".not.an.erasure.at.all")
	// Up to 500 a second, far past the erasures' limit.
	sent := f.flood("440000", 2*time.Millisecond, func() []byte { return forged })
	// Let the flood go past the erasures' burst (100) first.
	const past = 2 * 100
	waitSent(t, sent, past)

	f.requireErasedAtOnce()
	requireForgeriesRefused(t, f.c.Nodes[sh], f.logs, "hcfed_erasures_total", "lookup erasure refused", past)
}

// A home province with a backlog of erasures to one province (after an
// outage, a retention pass, a sunset) sends them no faster than that
// province accepts them (erasureRate, after its burst): the backlog
// drains with none refused. Unpaced, Guangdong sent its second hundred
// as fast as Shanghai acknowledged them, Shanghai dropped those past its
// limit, and each waited out the acknowledgement timeout and the
// backoff.
func TestABacklogOfErasuresDrainsWithoutBeingRefused(t *testing.T) {
	f := startErasureFedRetryingLate(t)
	// The backlog: 150 erasures to Shanghai, queued with the deletion of
	// a third resident, about codes Shanghai never looked up (it
	// acknowledges them, deleting nothing).
	const backlog = 150
	other := f.enrolWithPhone(gd, "张小华", idWithCheck("44010619920303345"), "13912345603")
	now := time.Now()
	plan := store.ErasurePlan{Action: "subject.enrol", Limit: 1, Make: func([]store.AuditEntry, store.ErasuresPending) []store.Erasure {
		out := make([]store.Erasure, backlog)
		for i := range out {
			out[i] = store.Erasure{Asker: "310000", Codes: []string{fmt.Sprintf("backlog-%03d", i)}, Subject: other.ID,
				Actor: "system", Created: now, Expires: now.Add(time.Hour)}
		}
		return out
	}}
	if _, err := f.c.Nodes[gd].DB.DeleteSubjectErasing(context.Background(), other.ID, now,
		func(string, bool) error { return nil }, plan); err != nil {
		t.Fatal(err)
	}
	// The deletion of the looked-up resident queues one more, and wakes
	// the sender.
	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	testkit.WaitFor(t, 30*time.Second, 10*time.Millisecond, "Guangdong's backlog drained", func() error {
		if st, err := f.c.Nodes[gd].DB.ErasureState(context.Background()); err != nil || st.Pending != 0 {
			return fmt.Errorf("%+v, %v", st, err)
		}
		return nil
	})
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="sent"}`); v != backlog+1 {
		t.Errorf(`hcfed_erasures_total{event="sent"} = %v, want %d`, v, backlog+1)
	}
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="failed"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="failed"} = %v, want 0: Guangdong sent faster than Shanghai accepts`, v)
	}
	if v := metricValue(t, f.c.Nodes[sh], `hcfed_erasures_total{event="limited"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="limited"} = %v at Shanghai, want 0`, v)
	}
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), f.deletedLookupID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Shanghai's copy of the deleted resident's contact: %v, want it gone", err)
	}
}

// A province that never acknowledges its erasures, and looked many
// residents up, holds many erasures in Guangdong's outbox: here 50,000,
// its share and more (queued directly, not due within the test). Another
// province's erasure is still queued and applied. With one cap for the
// whole outbox (50,000), Guangdong dropped Shanghai's erasure as the
// outbox was full, and Shanghai kept the deleted resident's contact.
func TestAProvinceHoldingManyErasuresDoesNotCrowdOutAnothers(t *testing.T) {
	f := startErasureFedRetryingLate(t)
	const held = 50_000
	other := f.enrolWithPhone(gd, "张小华", idWithCheck("44010619920303345"), "13912345603")
	now := f.clock.Now()
	plan := store.ErasurePlan{Action: "subject.enrol", Limit: 1, Make: func([]store.AuditEntry, store.ErasuresPending) []store.Erasure {
		out := make([]store.Erasure, held)
		for i := range out {
			out[i] = store.Erasure{Asker: "120000", Codes: []string{fmt.Sprintf("held-%05d", i)}, Subject: other.ID,
				Actor: "system", Created: now.Add(time.Hour), Expires: now.Add(2 * time.Hour)}
		}
		return out
	}}
	if _, err := f.c.Nodes[gd].DB.DeleteSubjectErasing(context.Background(), other.ID, now,
		func(string, bool) error { return nil }, plan); err != nil {
		t.Fatal(err)
	}
	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	f.waitShanghaiErased()
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="dropped"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="dropped"} = %v, want 0`, v)
	}
}
