package daemon_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/trust"
)

// A province flooding another with lookups beyond its rate costs the home
// node no signature past a few signed refusals: each request is opened
// and verified (only a verified one is charged to its province's rate,
// so that forgeries in its name cannot spend it: peer_forgery_test.go),
// and those beyond the rate are dropped unanswered, so the flood does
// not hold up the lookups of other provinces, which share its handler.
// Before the rate limit, every request's refusal was signed.
func TestLookupFloodBeyondTheRateGetsFewSignedRefusals(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.waitPeersReady()
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey
	good := map[string]string{"legal_basis": legalBasis, "case_id": "SH-1"}

	nc, err := nats.Connect(f.c.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	inbox := nats.NewInbox()
	var mu sync.Mutex
	answers := map[string][]trust.LookupAnswer{} // by the reply subject's last token
	ks := f.c.Nodes[gd].Node.State().Keyset("440000").Signing
	if _, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) { // one subscription: replies in the order sent
		var a trust.LookupAnswer
		if err := trust.ParseSigned(string(m.Data), trust.TypLookupAnswer, "440000", ks, &a); err != nil {
			t.Errorf("unsigned answer: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		key := m.Subject[len(inbox)+1:]
		answers[key] = append(answers[key], a)
	}); err != nil {
		t.Fatal(err)
	}

	const flood = 120
	for i := 0; i < flood; i++ {
		raw := seal(t, f.c.Nodes[sh].Node.Signer(), f.request(traveler, good), gdEnc)
		if err := nc.PublishRequest("hcfed.demo.310000.lookup.440000", inbox+".flood", raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Beijing asks once after the flood: it is answered in its turn, not
	// behind the flood (federation/senderqueues.go).
	req := f.request(traveler, good)
	req.Issuer = "110000"
	if err := nc.PublishRequest("hcfed.demo.110000.lookup.440000", inbox+".bj", seal(t, f.c.Nodes[bj].Node.Signer(), req, gdEnc)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Beijing's answer after the flood", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(answers["bj"]) == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	// Each flooded request is answered, or not taken past Shanghai's
	// rate, or dropped unread past what Shanghai's queue holds.
	var found, limited int
	count := func() {
		found, limited = 0, 0
		for _, a := range answers["flood"] {
			switch {
			case a.Found:
				found++
			case a.Refused == trust.ReasonRateLimited:
				limited++
			}
		}
	}
	waitFor(t, "every flooded request answered, not taken or dropped", func() error {
		notTaken := metricValue(t, f.c.Nodes[gd], `hcfed_peer_lookups_total{event="limited"}`)
		dropped := metricValue(t, f.c.Nodes[gd], `hcfed_nats_requests_dropped_total{service="lookups"}`)
		mu.Lock()
		defer mu.Unlock()
		count()
		if n := found + int(notTaken) + int(dropped); n != flood {
			return fmt.Errorf("%d found, %v not taken, %v dropped: %d of %d", found, notTaken, dropped, n, flood)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	count()
	if bj := answers["bj"][0]; !bj.Found || bj.Refused != "" {
		t.Errorf("Beijing, within its own rate: %+v, want found", bj)
	}
	for _, a := range answers["flood"] {
		if !a.Found && a.Refused != trust.ReasonRateLimited {
			t.Errorf("flood answer %+v", a)
		}
	}
	if limited == 0 {
		t.Errorf("no request beyond the rate was refused as rate_limited: the asker must be told")
	}
	if answered := found + limited; answered > flood/2 {
		t.Errorf("%d of %d flooded requests answered (%d found, %d rate_limited): each was opened and its refusal signed",
			answered, flood, found, limited)
	}
	t.Logf("%d found, %d rate_limited, %d dropped unanswered", found, limited, flood-found-limited)
}
