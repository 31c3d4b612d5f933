package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// A province's allowance of receipts and of lookups at another is
// charged only by what verifies under its keys: the subject names a
// province, and anyone allowed to publish there (a NATS permission left
// too wide, a member gone rogue) can send in its name. The erasures' own
// tests are in erasure_limit_test.go.

// startLoggedLookupFederation is startLookupFederation with every node
// logging, at debug level, to the buffer returned, and every node
// holding every other's keys.
func startLoggedLookupFederation(t *testing.T) (*lookupFed, *syncBuffer) {
	t.Helper()
	logs, clock := &syncBuffer{}, &testClock{}
	c, _ := startSearchedFederation(t, daemon.ClusterConfig{Dir: t.TempDir(), Now: clock.Now, Configure: lookupConfig}, logs)
	f := &lookupFed{fedTest: &fedTest{t: t, c: c}, clock: clock}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	f.waitPeersReady()
	return f, logs
}

// floodSubject publishes msg() on subject each interval until the test
// ends, over a NATS connection of its own, as anyone allowed to publish
// there could, and returns how many it published.
func floodSubject(t *testing.T, c *daemon.Cluster, subject string, every time.Duration, msg func() []byte) *atomic.Int64 {
	t.Helper()
	nc, err := nats.Connect(c.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if m := msg(); m != nil && nc.Publish(subject, m) == nil {
					sent.Add(1)
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-flooded; nc.Close() })
	return &sent
}

// waitSent waits until a flood has published at least n messages.
func waitSent(t *testing.T, sent *atomic.Int64, n int64) {
	t.Helper()
	waitFor(t, "the forger publishing", func() error {
		if got := sent.Load(); got < n {
			return fmt.Errorf("%d sent", got)
		}
		return nil
	})
}

// sealedReceipt is a receipt of one made-up code verified today,
// signed with s in from's name and sealed to to's enc key; nil, with
// the test failed, if it could not be made (it is called by floods).
func sealedReceipt(t *testing.T, s *trust.StatementSigner, from, to string, now time.Time, enc *ecdsa.PublicKey) []byte {
	nonce, err := trust.NewNonce(nil)
	if err != nil {
		t.Error(err)
		return nil
	}
	raw, err := trust.SealReceipt(s, trust.Receipt{Issuer: from, To: to, IssuedAt: now.Unix(), Nonce: nonce,
		Entries: []trust.ReceiptEntry{{JTI: nonce, Place: "checkpoint", Day: trust.ReceiptDay(now)}}}, enc)
	if err != nil {
		t.Error(err)
		return nil
	}
	return []byte(raw)
}

// requireForgeriesRefused checks, once a real message got through a
// flood of at least past forgeries, that the node d that received them
// counted none past their sender's rate (metric{event="limited"}),
// refused them all (metric{event="refused"}) and logged a few only, as
// logged; it returns how many it refused.
func requireForgeriesRefused(t *testing.T, d *daemon.Daemon, logs *syncBuffer, metric, logged string, past float64) float64 {
	t.Helper()
	if v := metricValue(t, d, metric+`{event="limited"}`); v != 0 {
		t.Errorf(`%s{event="limited"} = %v, want 0: only forgeries came beside the real messages`, metric, v)
	}
	var refused float64
	waitFor(t, "the forgeries refused", func() error {
		if refused = metricValue(t, d, metric+`{event="refused"}`); refused < past {
			return fmt.Errorf("%v refused", refused)
		}
		return nil
	})
	requireFewLogged(t, logs, logged, refused)
	return refused
}

// requireFewLogged fails unless what appears in logs at least once and
// at most 20 times: each of the refused messages is counted, a few are
// logged.
func requireFewLogged(t *testing.T, logs *syncBuffer, what string, refused float64) {
	t.Helper()
	if n := strings.Count(logs.String(), what); n < 1 || n > 20 {
		t.Errorf("%q logged %d times (of %v refused), want at least once and at most 20", what, n, refused)
	}
}

// Anyone able to publish on Guangdong's receipts subject in Shanghai's
// name floods it with receipts Shanghai never signed (Beijing's key).
// They are refused, counted and logged a few times only, and spend
// nothing of Shanghai's receipt allowance: Shanghai's real receipt is
// recorded, and its resident told. When the limit was charged before
// the signature was checked, the flood spent it and Guangdong dropped
// Shanghai's real receipts unopened.
func TestReceiptIsNotDroppedForForgedReceiptsInItsSendersName(t *testing.T) {
	f, logs := startLoggedLookupFederation(t)
	_, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey
	forged := sealedReceipt(t, f.c.Nodes[bj].Node.Signer(), "310000", "440000", f.clock.Now(), gdEnc)
	// Up to 500 a second, far past the receipts' limit (5 a second).
	sent := floodSubject(t, f.c, "hcfed.demo.310000.receipts.440000", 2*time.Millisecond, func() []byte { return forged })
	const past = 2 * 20 // the receipts' burst, twice
	waitSent(t, sent, past)

	f.verifyUntil(sh, code, "Guangdong recording Shanghai's receipt", func() error {
		if f.receipts(gd, "recorded") == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	requireForgeriesRefused(t, f.c.Nodes[gd], logs, "hcfed_receipts_total", "verification receipt refused", past)
}

// peerLookups reads province i's hcfed_peer_lookups_total for event.
func (f *lookupFed) peerLookups(i int, event string) float64 {
	return metricValue(f.t, f.c.Nodes[i], fmt.Sprintf("hcfed_peer_lookups_total{event=%q}", event))
}

// Anyone able to publish on Guangdong's lookup subject in Shanghai's
// name floods it with requests Shanghai never signed (Beijing's key).
// They are refused, counted, and audited and logged a few times only,
// and spend nothing of Shanghai's lookup allowance: Shanghai's real
// lookup is answered. When the limit was charged before the signature
// was checked, the flood spent it (and the few signed rate_limited
// refusals beyond it), and Guangdong dropped Shanghai's real request
// unopened: Shanghai's operator was told Guangdong did not answer.
func TestLookupIsNotRefusedForForgedRequestsInItsProvincesName(t *testing.T) {
	f, logs := startLoggedLookupFederation(t)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	good := map[string]string{"code": traveler.Code, "legal_basis": legalBasis, "case_id": "SH-1"}
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey
	forged := seal(t, f.c.Nodes[bj].Node.Signer(), f.request(traveler, good), gdEnc)
	// 200 a second, far past the lookups' limit (1 a second).
	sent := floodSubject(t, f.c, "hcfed.demo.310000.lookup.440000", 5*time.Millisecond, func() []byte { return forged })
	const past = 100 // the lookups' burst (30) and the refusals' (5), well past
	waitSent(t, sent, past)

	if st, _, got := f.lookupWhenConnected(sh, good); st != 200 || got["found"] != true {
		t.Fatalf("Shanghai's lookup during the flood: %d %v, want found", st, got)
	}
	refused := requireForgeriesRefused(t, f.c.Nodes[gd], logs, "hcfed_peer_lookups_total", "lookup request refused", past)
	if n := len(f.auditOf(gd, "lookup.refuse", 1)); n > 20 {
		t.Errorf("%d forged requests in Guangdong's audit log (of %v refused), want at most 20", n, refused)
	}
}

// Anyone who sees Shanghai's lookup request on its subject (a NATS
// permission left too wide) can answer it on its reply subject, and
// sooner than Guangdong. Shanghai skips each forged answer, counts it
// and logs a few, and takes Guangdong's real one. Before, each forged
// answer was logged: a flood of them filled the log.
func TestLookupAnswerIsNotDisplacedByForgedAnswers(t *testing.T) {
	f, logs := startLoggedLookupFederation(t)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	good := map[string]string{"code": traveler.Code, "legal_basis": legalBasis, "case_id": "SH-1"}
	// A refusal in Guangdong's name, signed with Beijing's key, to a
	// request whose nonce the forger cannot read (it is sealed).
	forged, err := f.c.Nodes[bj].Node.Signer().Sign(trust.TypLookupAnswer, trust.LookupAnswer{Issuer: "440000", To: "310000",
		Nonce: "AAAAAAAAAAAAAAAAAAAAAA", IssuedAt: f.clock.Now().Unix(), Refused: trust.ReasonNotMember})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(f.c.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const perRequest = 100
	if _, err := nc.Subscribe("hcfed.demo.310000.lookup.440000", func(m *nats.Msg) {
		for range perRequest {
			_ = nc.Publish(m.Reply, []byte(forged))
		}
		_ = nc.Flush()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Until more forged answers came before Guangdong's than a few: the
	// forger is usually, not always, the faster.
	const refusedAtLeast = 50
	for i := 0; f.peerLookups(sh, "answer_refused") < refusedAtLeast; i++ {
		if i == 10 {
			t.Fatalf("%v forged answers came before Guangdong's in 10 lookups, want %d: the test shows nothing",
				f.peerLookups(sh, "answer_refused"), refusedAtLeast)
		}
		if st, _, got := f.lookupWhenConnected(sh, good); st != 200 || got["found"] != true {
			t.Fatalf("Shanghai's lookup %d among forged answers: %d %v, want found", i+1, st, got)
		}
	}
	requireFewLogged(t, logs, "lookup answer refused", f.peerLookups(sh, "answer_refused"))
}

// Forgeries in Shanghai's name, each sealed afresh (a new ephemeral key,
// so that no envelope repeats), cost Guangdong at most its budget of
// refused openings in Shanghai's name — 20 at once and one a second
// (node's openRefusedBurst and openRefusedRate) — in key agreements: the
// rest are refused unopened. Beijing's real receipt, sent during the
// flood, is recorded. Before, every forgery was opened: a key agreement
// and a signature check each.
func TestForgedReceiptFloodCostsAtMostTheBudgetOfOpenings(t *testing.T) {
	f, _ := startLoggedLookupFederation(t)
	_, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey
	forger := f.c.Nodes[bj].Node.Signer()
	const flood = 300
	var made atomic.Int64
	start := time.Now()
	sent := floodSubject(t, f.c, "hcfed.demo.310000.receipts.440000", 2*time.Millisecond, func() []byte {
		if made.Add(1) > flood {
			return nil
		}
		return sealedReceipt(t, forger, "310000", "440000", f.clock.Now(), gdEnc)
	})
	waitSent(t, sent, flood/2)
	f.verifyUntil(bj, code, "Guangdong recording Beijing's receipt during the flood", func() error {
		if f.receipts(gd, "recorded") == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	waitSent(t, sent, flood)
	var refused float64
	waitFor(t, "every forgery refused", func() error {
		if refused = f.receipts(gd, "refused"); refused < flood {
			return fmt.Errorf("%v of %d refused", refused, flood)
		}
		return nil
	})
	opened := refused - f.receipts(gd, "unopened")
	budget := 20 + time.Since(start).Seconds()*1 + 1
	if opened > budget {
		t.Fatalf("%v of %v forgeries opened (a key agreement each), want at most the budget, %.0f", opened, refused, budget)
	}
	if opened < 20 {
		t.Errorf("%v forgeries opened, want the budget's burst (20) at least: the budget checks nothing", opened)
	}
}
