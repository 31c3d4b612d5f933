package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/trust"
)

// publishReceipt sends a receipt of entries from province from (signed
// with its node's key, as that node gone rogue could) to province to,
// over a NATS connection of the test's own, and returns once the server
// has it.
func (f *lookupFed) publishReceipt(from, to int, entries ...trust.ReceiptEntry) {
	f.t.Helper()
	nonce, err := trust.NewNonce(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	fromID, toID := f.c.Configs[from].Province, f.c.Configs[to].Province
	raw, err := trust.SealReceipt(f.c.Nodes[from].Node.Signer(), trust.Receipt{Issuer: fromID, To: toID,
		IssuedAt: f.clock.Now().Unix(), Nonce: nonce, Entries: entries}, f.c.Nodes[from].Node.State().Keyset(toID).EncKey)
	if err != nil {
		f.t.Fatal(err)
	}
	nc, err := nats.Connect(f.c.Server.ClientURL())
	if err != nil {
		f.t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("hcfed.demo."+fromID+".receipts."+toID, []byte(raw)); err != nil {
		f.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
}

// A member province reads the ids of another's revoked codes in its
// revocation statements. Shanghai, gone rogue, sends Guangdong a receipt
// saying its checkpoints verified such a code today: the code's holder
// would be told, and their health authority would read in its records,
// that they were in Shanghai. The home node records an entry only with
// the code's proof of scan, which only the code's text gives (as a
// lookup needs it, lookup_scanproof_test.go). Before, Guangdong recorded
// it.
func TestReceiptOfACodeItsSenderNeverScannedIsNotRecorded(t *testing.T) {
	t.Parallel()
	f := startReceiptFederation(t)
	victim, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	jti := jtiOf(t, code)
	f.setStatus(gd, victim, "red") // the code's id is in Guangdong's revocations now
	f.publishReceipt(sh, gd, trust.ReceiptEntry{JTI: jti, Place: "checkpoint", Day: trust.ReceiptDay(f.clock.Now())})

	// A code Shanghai does verify, whose receipt goes to Guangdong after
	// the forged one, on the same subject: once it is recorded, the
	// forged one has been handled.
	_, seen := f.enrolAndIssue(gd, "黄小红", idWithCheck("44010619900101124"))
	f.verifyUntil(sh, seen, "Guangdong recording Shanghai's real receipt", func() error {
		if f.receipts(gd, "recorded") == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	got, err := f.c.Nodes[gd].Node.ForeignVerifications(context.Background(), node.Principal{Role: node.RoleOperator}, victim)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("the resident whose code Shanghai never scanned is told it was verified there: %+v", got)
	}
}

// Shanghai, gone rogue, scanned a Guangdong code once and sends
// receipts naming it again and again, and at more kinds of place in a
// day than anyone passes: each was one more hash-chained entry in
// Guangdong's audit log (up to 5 receipts of 400 entries a second, all
// read again by every listing of the resident's history). Guangdong
// records an entry once per province, code, day and kind of place, and
// at most maxReceiptPlacesPerDay kinds of place for one code in a day.
// Before, it recorded every entry it was sent.
func TestReceiptEntriesSentAgainAreRecordedOnce(t *testing.T) {
	t.Parallel()
	f := startReceiptFederation(t)
	_, code := f.enrolAndIssue(gd, "黄小明", idWithCheck("44010619900101123"))
	proof, err := trust.ScanProof(code)
	if err != nil {
		t.Fatal(err)
	}
	again := trust.ReceiptEntry{JTI: jtiOf(t, code), Place: "rogue", Day: trust.ReceiptDay(f.clock.Now()), Proof: proof}
	for range 5 {
		f.publishReceipt(sh, gd, again, again, again)
	}
	var places []trust.ReceiptEntry
	for i := range 40 {
		e := again
		e.Place = fmt.Sprintf("rogue-%d", i)
		places = append(places, e)
	}
	f.publishReceipt(sh, gd, places...)

	// A code Shanghai does verify: once its receipt is recorded, the
	// rogue ones, sent before on the same subject, have been handled.
	_, seen := f.enrolAndIssue(gd, "黄小红", idWithCheck("44010619900101124"))
	f.verifyUntil(sh, seen, "Guangdong recording Shanghai's real receipt", func() error {
		for _, e := range f.auditOf(gd, "code.verify.peer", 1) {
			if strings.Contains(e.Detail, `"place":"checkpoint"`) {
				return nil
			}
		}
		return errors.New("none yet")
	})
	var rogue, again1 int
	for _, e := range f.auditOf(gd, "code.verify.peer", 1) {
		if strings.Contains(e.Detail, `"place":"rogue`) {
			rogue++
		}
		if strings.Contains(e.Detail, `"place":"rogue"`) {
			again1++
		}
	}
	if again1 != 1 {
		t.Errorf("the entry sent 15 times was recorded %d times, want once", again1)
	}
	if rogue > node.MaxReceiptPlacesPerDay {
		t.Errorf("one code verified at %d kinds of place in a day recorded, want at most %d", rogue, node.MaxReceiptPlacesPerDay)
	}
}
