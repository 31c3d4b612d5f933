package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// erasureFed is a three-province federation whose nodes retry an
// unacknowledged erasure at least every 200 ms, logging into logs, with
// two Guangdong residents whose contact Shanghai obtained in lookups:
// deleted, who will delete their record, and kept, who will not.
type erasureFed struct {
	*lookupFed
	logs            *syncBuffer
	deleted, kept   resident
	deletedLookupID string
	keptLookupID    string
}

func startErasureFed(t *testing.T) *erasureFed {
	t.Helper()
	logs := &syncBuffer{}
	clock := &testClock{}
	c, _ := startSearchedFederation(t, daemon.ClusterConfig{Dir: t.TempDir(), Now: clock.Now, ErasureRetryMax: 200 * time.Millisecond,
		Configure: func(cfg *config.Config) {
			scannerFriendly(cfg)
			cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
		}}, logs)
	f := &erasureFed{lookupFed: &lookupFed{fedTest: &fedTest{t: t, c: c}, clock: clock}, logs: logs}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	f.deleted = f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.kept = f.enrolWithPhone(gd, "李小红", idWithCheck("44010619910202234"), "13912345602")
	f.waitPeersReady()
	f.deletedLookupID = f.shanghaiLooksUp(f.deleted, 1)
	f.keptLookupID = f.shanghaiLooksUp(f.kept, 2)
	return f
}

// shanghaiLooksUp has Shanghai look r up (its nth lookup) and returns the
// id of the copy it keeps.
func (f *erasureFed) shanghaiLooksUp(r resident, nth int) string {
	f.t.Helper()
	if st, _, got := f.lookupWhenConnected(sh, map[string]string{"iss": "440000", "jti": r.JTI,
		"legal_basis": legalBasis, "case_id": "SH-CASE-2026-0042"}); st != 200 || got["found"] != true {
		f.t.Fatalf("lookup: %d %v", st, got)
	}
	id := detailField(f.t, f.auditOf(sh, "lookup.result", nth)[nth-1], "lookup")
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), id); err != nil {
		f.t.Fatalf("Shanghai keeps no copy of the lookup %q: the test shows nothing (%v)", id, err)
	}
	return id
}

// requireShanghaiErased waits until Shanghai's copy of the deleted
// resident's contact is gone, and checks that the kept resident's stays
// and that Guangdong's outbox is empty, in its table and its gauge.
func (f *erasureFed) requireShanghaiErased() {
	f.t.Helper()
	ctx := context.Background()
	waitFor(f.t, "Shanghai deleting its copy of the deleted resident's contact", func() error {
		if _, err := f.c.Nodes[sh].DB.Lookup(ctx, f.deletedLookupID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	if _, err := f.c.Nodes[sh].DB.Lookup(ctx, f.keptLookupID); err != nil {
		f.t.Errorf("Shanghai's copy of the other resident's contact: %v, want it kept", err)
	}
	waitFor(f.t, "Guangdong's erasure outbox empty", func() error {
		if st, err := f.c.Nodes[gd].DB.ErasureState(ctx); err != nil || st.Pending != 0 {
			return fmt.Errorf("%+v, %v", st, err)
		}
		return nil
	})
	f.waitMetricValue(gd, "hcfed_erasures_pending", "0")
	if e := f.auditOf(gd, "lookup.erase", 1)[0]; e.Target != f.deleted.ID || e.Detail != `{"codes":1,"sent":true,"to":"310000"}` {
		f.t.Errorf("Guangdong audits the erasure as %s %s, want it sent to 310000 for %s", e.Target, e.Detail, f.deleted.ID)
	}
}

// deleteWhileShanghaiIsAway stops Shanghai's node, has the resident it
// looked up delete their record, and waits until Guangdong failed at
// least once to have the erasure acknowledged, and holds it.
func (f *erasureFed) deleteWhileShanghaiIsAway() {
	f.t.Helper()
	if err := f.c.Stop(sh); err != nil {
		f.t.Fatal(err)
	}
	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	waitFor(f.t, "Guangdong failing to reach Shanghai", func() error {
		if v := metricValue(f.t, f.c.Nodes[gd], `hcfed_erasures_total{event="failed"}`); v < 1 {
			return fmt.Errorf("%v failed attempts", v)
		}
		return nil
	})
	if got := f.metric(gd, "hcfed_erasures_pending"); got != "1" {
		f.t.Fatalf("hcfed_erasures_pending = %q while Shanghai is away, want 1", got)
	}
}

// Shanghai's node is stopped when a Guangdong resident it looked up
// deletes their record: the erasure cannot be delivered then, waits in
// Guangdong's outbox, and reaches Shanghai once it is back, which deletes
// its copy (and only that one); the outbox is empty after.
func TestErasureReachesAnAskerThatWasDownAtTheDeletion(t *testing.T) {
	f := startErasureFed(t)
	f.deleteWhileShanghaiIsAway()

	if err := f.c.Restart(context.Background(), sh); err != nil {
		t.Fatal(err)
	}
	f.requireShanghaiErased()
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="sent"}`); v != 1 {
		t.Errorf(`hcfed_erasures_total{event="sent"} = %v, want 1`, v)
	}
}

// Guangdong restarts between the deletion and the erasure's delivery
// (Shanghai away all that time): the erasure was committed with the
// deletion, is counted pending from the restart on, and is delivered
// once Shanghai is back.
func TestErasureQueuedBeforeAHomeRestartIsDeliveredAfterIt(t *testing.T) {
	f := startErasureFed(t)
	f.deleteWhileShanghaiIsAway()
	if err := f.c.Restart(context.Background(), gd); err != nil {
		t.Fatal(err)
	}
	if got := f.metric(gd, "hcfed_erasures_pending"); got != "1" {
		t.Fatalf("hcfed_erasures_pending = %q right after the restart, want 1", got)
	}

	if err := f.c.Restart(context.Background(), sh); err != nil {
		t.Fatal(err)
	}
	f.requireShanghaiErased()
}

// An erasure delivered twice — the same message replayed, or a second
// erasure of the same code (Guangdong sent it again after its
// acknowledgement was lost) — deletes nothing more and logs no error:
// the replay is refused unapplied and unacknowledged, the second erasure
// deletes nothing and is acknowledged.
func TestErasureDeliveredTwiceDeletesNothingMore(t *testing.T) {
	f := startErasureFed(t)
	w := tap(t, f.lookupFed)
	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	f.requireShanghaiErased()
	sent := w.waitOn(t, "hcfed.demo.440000.receipts.310000")

	home := provinceConn(t, f.lookupFed, "440000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := home.RequestErasure(ctx, "310000", sent[0].Data, func([]byte) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the erasure replayed: %v, want no reply", err)
	}
	gdNode := f.c.Nodes[gd].Node
	nonce, err := trust.NewNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	var code string // the deleted resident's code, as Shanghai's lookups reference it
	for _, e := range f.auditOf(gd, "lookup.answer", 2) {
		if e.Target == f.deleted.ID {
			code = detailField(t, e, "jti")
		}
	}
	again := trust.Erasure{Issuer: "440000", To: "310000", IssuedAt: f.clock.Now().Unix(), Nonce: nonce, Codes: []string{code}}
	raw, err := trust.SealErasure(gdNode.Signer(), again, gdNode.State().Keyset("310000").EncKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := home.RequestErasure(context.Background(), "310000", []byte(raw), func(r []byte) error { return trust.CheckErasureAck(again, r) }); err != nil {
		t.Fatalf("a second erasure of the same code is not acknowledged: %v", err)
	}
	if e := f.auditOf(sh, "lookup.erased", 2)[1]; e.Detail != `{"codes":1,"deleted":0}` {
		t.Errorf("Shanghai audits the second erasure as %s, want nothing deleted", e.Detail)
	}
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), f.keptLookupID); err != nil {
		t.Errorf("Shanghai's copy of the other resident's contact: %v, want it kept", err)
	}
	for line := range strings.SplitSeq(f.logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "erasure") {
			t.Errorf("an error logged: %s", line)
		}
	}
}
