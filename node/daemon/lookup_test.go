package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

func TestCrossProvinceLookupGivesTheContactOnlyToTheAskerAndTellsTheResident(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.eventually(sh, traveler.Code, "ok")
	f.waitPeersReady()

	// Shanghai's operator looks the red traveler up, stating why.
	st, h, got := f.lookupWhenConnected(sh, map[string]string{"code": traveler.Code, "legal_basis": legalBasis, "case_id": "SH-2026-0042"})
	if st != 200 || got["found"] != true || got["name"] != "黄小明" || got["phone"] != "13912345601" {
		t.Fatalf("lookup: %d %v", st, got)
	}
	// The disclosure was on record at Guangdong before the answer left:
	// a deletion right now must find it to tell Shanghai to erase.
	if e, err := f.c.Nodes[gd].DB.AuditByTargets(context.Background(), "lookup.answer", []string{traveler.ID}, 10); err != nil || len(e) != 1 {
		t.Fatalf("Guangdong's lookup.answer entries when Shanghai has the answer: %d (%v), want 1", len(e), err)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if _, ok := got["id_number"]; ok {
		t.Fatal("the ID number was disclosed")
	}
	exp, err := time.Parse(time.RFC3339Nano, got["expires"].(string))
	if err != nil || exp.Sub(f.clock.Now()) < 29*24*time.Hour || exp.Sub(f.clock.Now()) > 30*24*time.Hour {
		t.Fatalf("expires %v (%v), want 30 days from now", got["expires"], err)
	}
	// On the wire: the request and the answer are sealed.
	requireOpaque(t, "request", w.waitOn(t, "hcfed.demo.310000.lookup."), traveler.JTI, legalBasis, "SH-2026-0042")
	requireOpaque(t, "answer", w.waitOn(t, "_INBOX_310000."), "黄小明", "13912345601")

	// Guangdong recorded whom it told what, why, with no personal data
	// and the case and legal basis only as tags (TestLookupCaseIDIsKeptOnlyAsATagTheAuditorFinds,
	// TestLookupLegalBasisIsSealedUntilTheLookupRetentionAndKeptAsATag).
	answers := f.auditOf(gd, "lookup.answer", 1)
	a := answers[0]
	if a.Actor != "peer:310000" || a.Target != traveler.ID || strings.Contains(a.Detail, legalBasis) ||
		strings.Contains(a.Detail, "SH-2026-0042") || strings.Contains(a.Detail, "13912345601") ||
		strings.Contains(a.Detail, "黄小明") || strings.Contains(a.Detail, traveler.JTI) {
		t.Fatalf("Guangdong's audit entry: %+v", a)
	}
	// Shanghai recorded the request and its outcome under the asking
	// account (the cluster's admin), the code id hashed.
	for _, action := range []string{"lookup.request", "lookup.result"} {
		e := f.auditOf(sh, action, 1)[0]
		if e.Actor != "admin:admin" || e.Target == "" || strings.Contains(e.Target+e.Detail, traveler.JTI) ||
			strings.Contains(e.Detail, "13912345601") {
			t.Fatalf("Shanghai's %s entry: %+v", action, e)
		}
	}

	// The resident sees it, and nobody else's token does.
	var seen struct {
		Lookups []node.LookupRecord `json:"lookups"`
	}
	f.mustCall(gd, "GET", "/v1/subjects/"+traveler.ID+"/lookups", traveler.Token, nil, &seen, 200)
	if len(seen.Lookups) != 1 || seen.Lookups[0].Province != "310000" || seen.Lookups[0].LegalBasis != legalBasis ||
		seen.Lookups[0].CaseID != "SH-2026-0042" || strings.Join(seen.Lookups[0].Disclosed, ",") != "name,phone" {
		t.Fatalf("the resident is told %+v", seen.Lookups)
	}
	other := f.enrolWithPhone(gd, "陈丽华", idWithCheck("44030519851212456"), "13912345602")
	f.mustCall(gd, "GET", "/v1/subjects/"+traveler.ID+"/lookups", other.Token, nil, nil, 403)

	// Shanghai holds the contact data sealed, and not in clear anywhere
	// in its database files.
	lookupID := detailField(t, f.auditOf(sh, "lookup.result", 1)[0], "lookup")
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), lookupID); err != nil {
		t.Fatalf("Shanghai's sealed copy: %v", err)
	}
	requireNotInFiles(t, filepath.Dir(f.c.Configs[sh].DBPath()), "黄小明", "13912345601")

	// A code whose holder deleted their record names nobody.
	f.mustCall(gd, "DELETE", "/v1/subjects/"+other.ID, other.Token, nil, nil, 204)
	if st, _, got := f.lookup(sh, map[string]string{"code": other.Code, "legal_basis": legalBasis, "case_id": "SH-2026-0043"}); st != 200 || got["found"] != false || got["name"] != nil {
		t.Fatalf("lookup of a deleted resident: %d %v", st, got)
	}

	// After the case retention the contact data is gone from Shanghai.
	f.clock.Advance(f.c.Configs[sh].Privacy.Retention.Lookups + time.Minute)
	r, err := f.c.Nodes[sh].Node.Retain(context.Background())
	if err != nil || r.Lookups != 1 {
		t.Fatalf("retention: %+v, %v", r, err)
	}
	if _, err := f.c.Nodes[sh].DB.Lookup(context.Background(), lookupID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("contact data after its retention: %v", err)
	}
}

// The home node's lookup limit for each asking province (node/peers.go,
// lookupBurst and lookupRate): 30 at once, then one a second.
const (
	peerLookupBurst = 30
	peerLookupRate  = 1.0 // per second
)

// TestCrossProvinceLookupRefusals sends requests that must not be
// answered with contact data, each with its signed refusal or its silence
// checked, and Guangdong's audit entry for each.
func TestCrossProvinceLookupRefusals(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.waitPeersReady()
	good := map[string]string{"code": traveler.Code, "legal_basis": legalBasis, "case_id": "SH-1"}
	if st, _, got := f.lookupWhenConnected(sh, good); st != 200 || got["found"] != true {
		t.Fatalf("lookup: %d %v", st, got)
	}
	asSH := provinceConn(t, f, "310000")
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey

	// Replayed: the request captured on the wire, sent again.
	sent := w.waitOn(t, "hcfed.demo.310000.lookup.440000")
	if len(sent) != 1 {
		t.Fatalf("%d requests captured", len(sent))
	}
	if ans := f.send(asSH, sent[0].Data); ans == nil || ans.Refused != trust.ReasonReplayed || ans.Found {
		t.Fatalf("replayed request answered %+v", ans)
	}
	// Signed by Beijing's key in Shanghai's name: a key Shanghai's keyset
	// does not hold (unknown_key).
	req := f.request(traveler, good)
	if ans := f.sendWithin(asSH, seal(t, f.c.Nodes[bj].Node.Signer(), req, gdEnc), silenceFor); ans != nil {
		t.Fatalf("request signed by the wrong province's key answered %+v", ans)
	}
	// Without legal basis: the asking node refuses to send it...
	noBasis := map[string]string{"code": traveler.Code, "case_id": "SH-1"}
	if st, _, got := f.lookup(sh, noBasis); st != 400 {
		t.Fatalf("lookup without legal basis: %d %v", st, got)
	}
	// ...and the home node refuses it when sent anyway.
	req = f.request(traveler, good)
	req.LegalBasis = ""
	if ans := f.send(asSH, seal(t, f.c.Nodes[sh].Node.Signer(), req, gdEnc)); ans == nil || ans.Refused != trust.ReasonNoLegalBasis {
		t.Fatalf("request without legal basis answered %+v", ans)
	}
	refusals := f.auditOf(gd, "lookup.refuse", 3)
	for i, want := range []trust.Reason{trust.ReasonReplayed, trust.ReasonUnknownKey, trust.ReasonNoLegalBasis} {
		if got := detailField(t, refusals[i], "reason"); got != string(want) || refusals[i].Actor != "peer:310000" {
			t.Errorf("refusal %d: %+v, want reason %s", i, refusals[i], want)
		}
	}

	// Beijing asks far too often: the rate limit stops it, and says so.
	// It asks until refused, up to what the limit can have let through
	// in the time its lookups took: they take real time, and on a loaded
	// machine 40 of them took long enough for the limit to let every one
	// through.
	limited, start := -1, time.Now()
	for i := 0; limited < 0; i++ {
		if most := peerLookupBurst + int(peerLookupRate*time.Since(start).Seconds()); i > most {
			t.Fatalf("Beijing not rate-limited after %d lookups in %v", i, time.Since(start))
		}
		st, _, got := f.lookupWhenConnected(bj, good)
		switch st {
		case 200:
		case http.StatusTooManyRequests:
			limited = i
		default:
			t.Fatalf("lookup %d from Beijing: %d %v", i, st, got)
		}
	}
	if limited < 25 {
		t.Fatalf("Beijing rate-limited after %d lookups", limited)
	}

	// Shanghai suspended: refused, signed.
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "suspend", ID: "310000"}), ops[0], ops[1]))
	f.waitVersion(2)
	if st, _, got := f.lookup(sh, good); st != http.StatusForbidden {
		t.Fatalf("lookup by a suspended member: %d %v", st, got)
	}
	// Shanghai removed: Guangdong drops its keys and cannot even verify.
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "remove", ID: "310000"}), ops[0], ops[1]))
	f.waitVersion(3)
	if ans := f.sendWithin(asSH, seal(t, f.c.Nodes[sh].Node.Signer(), f.request(traveler, good), gdEnc), silenceFor); ans != nil {
		t.Fatalf("request from a removed member answered %+v", ans)
	}
	refusals = f.auditOf(gd, "lookup.refuse", 5)
	if r := detailField(t, refusals[3], "reason"); r != string(trust.ReasonNotMember) {
		t.Errorf("suspended member: refusal %+v", refusals[3])
	}
	if r := detailField(t, refusals[4], "reason"); r != string(trust.ReasonUnknownIssuer) {
		t.Errorf("removed member: refusal %+v", refusals[4])
	}
	if got := len(f.auditOf(gd, "lookup.answer", 1)); got != 1+limited {
		t.Errorf("%d answers in Guangdong's audit log, want %d", got, 1+limited)
	}
}

// TestVerificationInAnotherProvinceReachesTheResident is the cross-province
// right to know: Shanghai's scanner verifies a Guangdong code, Shanghai
// sends Guangdong a sealed receipt, and Guangdong lists it for its
// resident — province, kind of place and time, no scanner.
func TestVerificationInAnotherProvinceReachesTheResident(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.waitPeersReady()
	f.eventually(sh, traveler.Code, "ok")
	var got []node.VerificationRecord
	waitFor(t, "Shanghai's verification in Guangdong", func() error {
		var err error
		got, err = f.c.Nodes[gd].Node.ForeignVerifications(context.Background(), node.Principal{Role: node.RoleResident, SubjectID: traveler.ID}, traveler.ID)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			f.verify(sh, traveler.Code) // a receipt sent before the service started is not retried
			return errors.New("none yet")
		}
		return nil
	})
	v := got[0]
	if v.Province != "310000" || v.Place != "checkpoint" || v.JTI != traveler.JTI || !v.Valid ||
		v.Day != trust.ReceiptDay(f.clock.Now()) {
		t.Fatalf("Guangdong tells its resident %+v", v)
	}
	e := f.auditOf(gd, "code.verify.peer", 1)[0]
	if e.Actor != "peer:310000" || strings.Contains(e.Detail, "sc_") || strings.Contains(e.Detail+e.Target, traveler.JTI) {
		t.Fatalf("Guangdong's audit entry: %+v", e)
	}
	requireOpaque(t, "receipt", w.waitOn(t, "hcfed.demo.310000.receipts.440000"), traveler.JTI, "checkpoint")
	if _, err := f.c.Nodes[gd].Node.ForeignVerifications(context.Background(), node.Principal{Role: node.RoleResident, SubjectID: "s_other"}, traveler.ID); err == nil {
		t.Fatal("another resident read the verifications")
	}
}
