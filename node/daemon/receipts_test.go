package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// startReceiptFederation is startLookupFederation with receipts sent
// every second and privacy.receipts off in the provinces named.
func startReceiptFederation(t *testing.T, off ...string) *lookupFed {
	t.Helper()
	clock := &testClock{}
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: t.TempDir(), Provinces: threeProvinces,
		Now: clock.Now, Configure: func(cfg *config.Config) {
			scannerFriendly(cfg)
			cfg.Privacy.ReceiptsEvery = time.Second
			for _, p := range off {
				if cfg.Province == p {
					cfg.Privacy.Receipts = config.ReceiptsOff
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	f := &lookupFed{fedTest: &fedTest{t: t, c: c}, clock: clock}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	f.waitPeersReady()
	return f
}

// verifyUntil verifies code in province i until cond holds: a receipt
// sent before the peer service started is not retried.
func (f *lookupFed) verifyUntil(i int, code, what string, cond func() error) {
	f.t.Helper()
	waitFor(f.t, what, func() error {
		if err := cond(); err != nil {
			f.verify(i, code)
			return err
		}
		return nil
	})
}

// receipts reads province i's hcfed_receipts_total for event.
func (f *lookupFed) receipts(i int, event string) float64 {
	return metricValue(f.t, f.c.Nodes[i], fmt.Sprintf("hcfed_receipts_total{event=%q}", event))
}

// What the home province records of a verification elsewhere is the
// kind of place and the day: the audit entry's detail holds nothing else
// (no time of day, no scanner), and the resident is shown the day.
func TestReceiptTellsTheHomeProvinceTheDayAndKindOfPlaceOnly(t *testing.T) {
	t.Parallel()
	f := startReceiptFederation(t)
	_, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	f.verifyUntil(sh, code, "Guangdong recording Shanghai's receipt", func() error {
		if f.receipts(gd, "recorded") == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	day := trust.ReceiptDay(f.clock.Now())
	e := f.auditOf(gd, "code.verify.peer", 1)[0]
	if want := `{"place":"checkpoint","day":"` + day + `"}`; e.Detail != want || e.Actor != "peer:310000" {
		t.Fatalf("Guangdong keeps %s by %s, want %s by peer:310000", e.Detail, e.Actor, want)
	}
	if f.receipts(sh, "sent") == 0 || f.receipts(sh, "queued") == 0 {
		t.Fatal("Shanghai's receipt metrics did not count what it sent")
	}
}

// A home province with privacy.receipts off discards the receipts other
// provinces send about its residents, unread: nothing is recorded, and
// its notice says so.
func TestHomeProvinceWithReceiptsOffRecordsNone(t *testing.T) {
	t.Parallel()
	f := startReceiptFederation(t, "440000")
	traveler, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	f.verifyUntil(sh, code, "Guangdong ignoring Shanghai's receipt", func() error {
		if f.receipts(gd, "ignored") == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	if f.receipts(sh, "sent") == 0 {
		t.Fatal("Shanghai, whose receipts are on, sent none: the test shows nothing")
	}
	all, err := f.c.Nodes[gd].DB.AuditEntries(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Action == "code.verify.peer" {
			t.Fatalf("Guangdong, receipts off, recorded %+v", e)
		}
	}
	got, err := f.c.Nodes[gd].Node.ForeignVerifications(context.Background(), node.Principal{Role: node.RoleOperator}, traveler)
	if err != nil || len(got) != 0 || f.receipts(gd, "recorded") != 0 {
		t.Fatalf("Guangdong, receipts off, lists %+v (%v)", got, err)
	}
	if n, err := f.c.Nodes[gd].Node.PrivacyNotice(context.Background()); err != nil || !strings.Contains(n.VerifiedElsewhere["en"], "no verification receipts") {
		t.Fatalf("Guangdong's notice does not say receipts are off: %v (%v)", n.VerifiedElsewhere, err)
	}
}

// A province with privacy.receipts off tells no home province of the
// codes it verifies: nothing is queued or published, while a province
// with receipts on, verifying the same code, is recorded at home.
func TestProvinceWithReceiptsOffSendsNone(t *testing.T) {
	t.Parallel()
	f := startReceiptFederation(t, "310000")
	w := tap(t, f)
	_, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	if r := f.verify(sh, code); r != "ok" {
		t.Fatalf("Shanghai: %s", r)
	}
	if f.receipts(sh, "withheld") != 1 || f.receipts(sh, "queued") != 0 {
		t.Fatalf("Shanghai, receipts off: withheld %v, queued %v; want 1 and 0", f.receipts(sh, "withheld"), f.receipts(sh, "queued"))
	}
	f.verifyUntil(bj, code, "Guangdong recording Beijing's receipt", func() error {
		if f.receipts(gd, "recorded") == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	if msgs := w.on("hcfed.demo.310000.receipts."); len(msgs) != 0 {
		t.Fatalf("Shanghai, receipts off, published %d receipts", len(msgs))
	}
	if e := f.auditOf(gd, "code.verify.peer", 1); len(e) != 1 || e[0].Actor != "peer:110000" {
		t.Fatalf("Guangdong recorded %+v, want Beijing's receipt only", e)
	}
}
