package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// erasureFed is a three-province federation, logging into logs, with
// two Guangdong residents whose contact Shanghai obtained in lookups:
// deleted, who will delete their record, and kept, who will not.
type erasureFed struct {
	*lookupFed
	logs            *syncBuffer
	deleted, kept   resident
	deletedLookupID string
	keptLookupID    string
}

// startErasureFed starts an erasureFed whose nodes retry an
// unacknowledged erasure at least every 200 ms.
func startErasureFed(t *testing.T) *erasureFed {
	t.Helper()
	return startErasureFedWith(t, daemon.ClusterConfig{ErasureRetry: backoff.Policy{Max: 200 * time.Millisecond}})
}

// startErasureFedWith starts an erasureFed with cc's erasure options.
func startErasureFedWith(t *testing.T, cc daemon.ClusterConfig) *erasureFed {
	t.Helper()
	logs := &syncBuffer{}
	clock := &testClock{}
	cc.Dir, cc.Now = t.TempDir(), clock.Now
	cc.Configure = func(cfg *config.Config) {
		scannerFriendly(cfg)
		cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
	}
	c, _ := startSearchedFederation(t, cc, logs)
	f := &erasureFed{lookupFed: &lookupFed{fedTest: &fedTest{t: t, c: c}, clock: clock}, logs: logs}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	f.deleted = f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.kept = f.enrolWithPhone(gd, "李小红", idWithCheck("44010619910202234"), "13912345602")
	f.waitPeersReady()
	f.deletedLookupID = f.looksUp(sh, f.deleted, 1)
	f.keptLookupID = f.looksUp(sh, f.kept, 2)
	return f
}

// looksUp has province i look r up (its nth lookup) and returns the id
// of the copy it keeps.
func (f *erasureFed) looksUp(i int, r resident, nth int) string {
	f.t.Helper()
	if st, _, got := f.lookupWhenConnected(i, map[string]string{"code": r.Code,
		"legal_basis": legalBasis, "case_id": "CASE-2026-0042"}); st != 200 || got["found"] != true {
		f.t.Fatalf("lookup: %d %v", st, got)
	}
	id := detailField(f.t, f.auditOf(i, "lookup.result", nth)[nth-1], "lookup")
	if _, err := f.c.Nodes[i].DB.Lookup(context.Background(), id); err != nil {
		f.t.Fatalf("%s keeps no copy of the lookup %q: the test shows nothing (%v)", f.c.Configs[i].Province, id, err)
	}
	return id
}

// requireShanghaiErased waits until Shanghai's copy of the deleted
// resident's contact is gone, and checks that the kept resident's stays
// and that Guangdong's outbox is empty, in its table and its gauge.
func (f *erasureFed) requireShanghaiErased() {
	f.t.Helper()
	f.waitShanghaiErased()
	f.requireErasuresPending(0)
}

// waitShanghaiErased waits until Shanghai's copy of the deleted
// resident's contact is gone, and checks that the kept resident's stays
// and that Guangdong audited the erasure sent.
func (f *erasureFed) waitShanghaiErased() {
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
	if e := f.auditOf(gd, "lookup.erase", 1)[0]; e.Target != f.deleted.ID || e.Detail != `{"codes":1,"sent":true,"to":"310000"}` {
		f.t.Errorf("Guangdong audits the erasure as %s %s, want it sent to 310000 for %s", e.Target, e.Detail, f.deleted.ID)
	}
}

// requireErasuresPending waits until Guangdong's outbox holds n
// erasures, in its table and its gauge.
func (f *erasureFed) requireErasuresPending(n int) {
	f.t.Helper()
	waitFor(f.t, fmt.Sprintf("Guangdong's erasure outbox holding %d", n), func() error {
		if st, err := f.c.Nodes[gd].DB.ErasureState(context.Background()); err != nil || st.Pending != n {
			return fmt.Errorf("%+v, %v", st, err)
		}
		return nil
	})
	f.waitMetricValue(gd, "hcfed_erasures_pending", strconv.Itoa(n))
}

// requireNoPersonalDataLogged fails if a log line holds the deleted
// resident's name, ID number or phone.
func (f *erasureFed) requireNoPersonalDataLogged() {
	f.t.Helper()
	logs := f.logs.String()
	for _, s := range []string{"黄小明", idWithCheck("44010619900101123"), "13912345601"} {
		if logs == "" || strings.Contains(logs, s) {
			f.t.Errorf("%q in the logs (or no logs captured)", s)
		}
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

// Shanghai's node is away when a Guangdong resident it looked up deletes
// their record, and Guangdong's next try at the erasure is an hour away
// (its retry interval here): Shanghai's heartbeat on its return makes
// Guangdong send the erasure at once, within seconds. Before, it waited
// for the retry (up to 10 minutes by default).
func TestErasureReachesAReturningAskerAtItsHeartbeatNotAtTheRetry(t *testing.T) {
	f := startErasureFedWith(t, daemon.ClusterConfig{ErasureRetry: backoff.Policy{Min: time.Hour, Max: time.Hour}})
	f.deleteWhileShanghaiIsAway()
	ctx := context.Background()
	if st, err := f.c.Nodes[gd].DB.ErasureState(ctx); err != nil || st.NextTry.Before(f.clock.Now().Add(50*time.Minute)) {
		t.Fatalf("Guangdong's erasure outbox %+v, %v: its next try is not an hour away, the test shows nothing", st, err)
	}

	if err := f.c.Restart(ctx, sh); err != nil {
		t.Fatal(err)
	}
	f.requireShanghaiErased()
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="sent"}`); v != 1 {
		t.Errorf(`hcfed_erasures_total{event="sent"} = %v, want 1`, v)
	}
	f.requireNoPersonalDataLogged()
}

// Beijing's node hangs — something listens on its subject and never
// answers, so each attempt at an erasure to it waits for its
// acknowledgement (a minute here) — when a resident Beijing and Shanghai
// both looked up deletes their record: Shanghai's erasure is delivered
// while Beijing's attempt still waits. Before, the erasures were sent
// one after the other, Beijing's first.
func TestAHungProvinceDoesNotDelayTheErasureToALiveOne(t *testing.T) {
	f := startErasureFedWith(t, daemon.ClusterConfig{ErasureRetry: backoff.Policy{Max: 200 * time.Millisecond},
		ErasureAckTimeout: time.Minute})
	f.looksUp(bj, f.deleted, 1)
	if err := f.c.Stop(bj); err != nil {
		t.Fatal(err)
	}
	hung := make(chan *nats.Msg, 16)
	nc, err := nats.Connect(f.c.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.ChanSubscribe("hcfed.demo.440000.receipts.110000", hung); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	select {
	case <-hung:
	case <-time.After(15 * time.Second):
		t.Fatal("Guangdong sent the hung Beijing no erasure: the test shows nothing")
	}
	f.waitShanghaiErased()
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="failed"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="failed"} = %v before Beijing's attempt timed out, want 0`, v)
	}
	f.requireErasuresPending(1) // Beijing's
	f.requireNoPersonalDataLogged()
}
