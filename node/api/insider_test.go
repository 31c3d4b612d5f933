package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
)

// A rogue operator (an account of role operator, or whoever holds its
// token) reads residents one request at a time: each read that shows a
// resident — the record, its verifications, appeals and lookups, the
// appeals queue, an ID number found already enrolled — is in the audit
// log under the account's name, before the record is shown; past the
// account's budget (limits.operator_read_*) reads are refused with
// read_limited and counted in hcfed_operator_reads_total; another
// account, and the resident, are not held back; the budget refills with
// time.
func TestOperatorReadsOfResidentsAreAuditedUnderTheAccountAndBounded(t *testing.T) {
	t.Parallel()
	const burst = config.MinOperatorReadBurst
	n := startNode(t, "440000", generous, func(c *config.Config) {
		c.Limits.OperatorReadRate, c.Limits.OperatorReadBurst = 1, burst
	})
	var rogue newAccountToken
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "rogue", "role": "operator"}, &rogue); r.StatusCode != http.StatusCreated {
		t.Fatalf("create account: HTTP %d", r.StatusCode)
	}
	id, resident := n.enrol(residentName, residentID)
	if r := n.call("POST", "/v1/appeals", resident, map[string]string{"message": "我的红码有误"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("appeal: HTTP %d", r.StatusCode)
	}
	before := n.auditCount("subject.read")
	for _, path := range []string{"/v1/subjects/" + id, "/v1/subjects/" + id + "/verifications", "/v1/subjects/" + id + "/appeals", "/v1/subjects/" + id + "/lookups"} {
		if r := n.call("GET", path, resident, nil, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("the resident reading %s: HTTP %d", path, r.StatusCode)
		}
	}
	if got := n.auditCount("subject.read"); got != before {
		t.Fatalf("a resident's reads of their own record audited as operator reads: %d entries", got-before)
	}

	reads := []struct{ method, path, kind string }{
		{"GET", "/v1/subjects/" + id, "record"},
		{"GET", "/v1/subjects/" + id + "/verifications", "verifications"},
		{"GET", "/v1/subjects/" + id + "/appeals", "appeals"},
		{"GET", "/v1/subjects/" + id + "/lookups", "lookups"},
		{"GET", "/v1/appeals", "appeal_queue"},
	}
	for _, rd := range reads {
		if r := n.call(rd.method, rd.path, rogue.Token, nil, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("operator reading %s: HTTP %d", rd.path, r.StatusCode)
		}
	}
	// An enrolment of an ID number already enrolled names its subject:
	// that answers who the number is, and is a read as well.
	var e apiError
	if r := n.call("POST", "/v1/subjects", rogue.Token, enrolment(otherName, residentID), &e); r.StatusCode != http.StatusConflict || !strings.Contains(e.Error.Message, id) {
		t.Fatalf("enrolling an ID number again: HTTP %d %+v", r.StatusCode, e)
	}
	want := map[string]bool{"record": true, "verifications": true, "appeals": true, "lookups": true, "appeal_queue": true, "enrolled": true}
	entries, err := n.d.DB.AuditEntries(t.Context(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range entries {
		if a.Action != "subject.read" {
			continue
		}
		var d struct{ Read string }
		if err := json.Unmarshal([]byte(a.Detail), &d); err != nil || a.Actor != "operator:rogue" || a.Target != id {
			t.Errorf("read audited as %+v", a)
		}
		for _, secret := range []string{residentName, residentID, "我的红码有误"} {
			if strings.Contains(a.Detail, secret) {
				t.Errorf("read entry %+v holds personal data", a)
			}
		}
		delete(want, d.Read)
	}
	if len(want) > 0 {
		t.Fatalf("reads not audited under the operator's account: %v", want)
	}

	// The budget: burst residents in all, then read_limited. The reads
	// above took two: the resident's record, however many kinds of it
	// were read (one resident, charged once per window), and the ID
	// number found already enrolled.
	others := make([]string, burst)
	for i := range others {
		others[i], _ = n.enrol(otherName, idNumberN(i))
	}
	audited := n.auditCount("subject.read")
	allowed := 2
	var refused string
	for _, other := range others {
		r := n.call("GET", "/v1/subjects/"+other, rogue.Token, nil, &e)
		if r.StatusCode == http.StatusOK {
			allowed++
			continue
		}
		if r.StatusCode != http.StatusTooManyRequests || e.Error.Code != "read_limited" {
			t.Fatalf("read %d past the budget: HTTP %d %+v, want 429 read_limited", allowed+1, r.StatusCode, e)
		}
		refused = other
		break
	}
	if allowed != burst || refused == "" {
		t.Fatalf("%d residents read, want the burst of %d", allowed, burst)
	}
	if m := n.metric(`hcfed_operator_reads_total{kind="record",result="refused"}`); !strings.HasSuffix(m, " 1") {
		t.Fatalf("refused read not counted: %q", m)
	}
	if got := n.auditCount("subject.read"); got != audited+burst-2 {
		t.Fatalf("%d reads audited, want %d (the refused one is not: nothing was shown)", got-audited, burst-2)
	}
	// Past the budget, a resident read a moment ago may be read again
	// (no one new is shown), audited as ever.
	if r := n.call("GET", "/v1/subjects/"+id, rogue.Token, nil, &e); r.StatusCode != http.StatusOK {
		t.Fatalf("a resident read a moment ago, read again past the budget: HTTP %d %+v", r.StatusCode, e)
	}
	if got := n.auditCount("subject.read"); got != audited+burst-1 {
		t.Fatalf("a read again is not audited: %d entries, want %d", got-audited, burst-1)
	}
	// The other reads that show a resident in clear take from the same
	// budget: a wallet link replaced (a refusal would tell whether an ID
	// number is the resident's) and a cross-province lookup.
	refusedBefore := n.auditCount("subject.token_refused")
	for path, body := range map[string]any{
		"/v1/subjects/" + id + "/token": map[string]string{"id_number": otherID},
		"/v1/lookups":                   map[string]string{"iss": "310000", "jti": "x", "legal_basis": "law", "case_id": "c1"},
	} {
		if r := n.call("POST", path, rogue.Token, body, &e); r.StatusCode != http.StatusTooManyRequests || e.Error.Code != "read_limited" {
			t.Errorf("POST %s past the budget: HTTP %d %+v, want 429 read_limited", path, r.StatusCode, e)
		}
	}
	if n.auditCount("subject.token_refused") != refusedBefore {
		t.Errorf("an ID number was compared past the budget")
	}
	for who, tok := range map[string]string{"another account": n.operator, "the resident": resident} {
		if r := n.call("GET", "/v1/subjects/"+id, tok, nil, nil); r.StatusCode != http.StatusOK {
			t.Errorf("%s held back by the rogue account's budget: HTTP %d", who, r.StatusCode)
		}
	}
	n.clock.Add(2 * time.Second)
	if r := n.call("GET", "/v1/subjects/"+refused, rogue.Token, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after the budget refilled: HTTP %d", r.StatusCode)
	}
}

// The paper page shows what the record shows (status, masked name and
// ID number) for any subject an operator issues a paper code to: it is
// a read like the record, audited under the account before the page is
// shown and charged to its budget, or an account past its budget would
// read residents one paper code at a time, quietly.
func TestPaperPageIsAnOperatorReadAuditedAndBounded(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous, func(c *config.Config) {
		c.Limits.OperatorReadRate, c.Limits.OperatorReadBurst = 0.001, config.MinOperatorReadBurst
	})
	var desk newAccountToken
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "desk", "role": "operator"}, &desk); r.StatusCode != http.StatusCreated {
		t.Fatalf("create account: HTTP %d", r.StatusCode)
	}
	id, _ := n.enrol(residentName, residentID)
	var paper issued
	if r := n.call("POST", "/v1/subjects/"+id+"/codes", desk.Token, map[string]bool{"paper": true}, &paper); r.StatusCode != http.StatusCreated {
		t.Fatalf("paper code: HTTP %d", r.StatusCode)
	}
	page := "/v1/codes/" + paper.JTI + "/paper.png"
	before := n.auditCount("subject.read")
	if r := n.call("GET", page, desk.Token, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("paper page: HTTP %d", r.StatusCode)
	}
	var actor, target, detail string
	if err := n.rawDB().QueryRow(`SELECT actor, target, detail FROM audit WHERE action = 'subject.read' ORDER BY seq DESC LIMIT 1`).
		Scan(&actor, &target, &detail); err != nil || n.auditCount("subject.read") != before+1 {
		t.Fatalf("the paper page was not audited as a read (%v)", err)
	}
	if actor != "operator:desk" || target != id || !strings.Contains(detail, `"paper"`) {
		t.Fatalf("paper page audited as %s %s %s", actor, target, detail)
	}
	var e apiError
	for i := 0; ; i++ {
		other, _ := n.enrol(otherName, idNumberN(i))
		if r := n.call("GET", "/v1/subjects/"+other, desk.Token, nil, &e); r.StatusCode == http.StatusTooManyRequests {
			break
		}
		if i > config.MinOperatorReadBurst {
			t.Fatal("the account's budget never ran out")
		}
	}
	if r := n.call("GET", page, desk.Token, nil, &e); r.StatusCode != http.StatusTooManyRequests || e.Error.Code != "read_limited" {
		t.Fatalf("paper page past the account's budget: HTTP %d %+v, want 429 read_limited", r.StatusCode, e)
	}
}

// An appeals desk works the queue as the console does: it lists the
// open appeals (a page of up to 100, one read per appeal), resolves
// one, and lists them again. Listing the same residents again shows no
// one new: within the budget's window it is audited again but not
// charged again, or a desk with a full queue would spend the default
// budget on three reloads and be refused the queue it exists to work.
func TestAppealsDeskListingTheSameQueueAgainIsNotChargedAgain(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous) // the default operator read budget
	var desk newAccountToken
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "desk", "role": "operator"}, &desk); r.StatusCode != http.StatusCreated {
		t.Fatalf("create account: HTTP %d", r.StatusCode)
	}
	for i := 0; i < 100; i++ {
		_, resident := n.enrol(otherName, idNumberN(i))
		if r := n.call("POST", "/v1/appeals", resident, map[string]string{"message": "请复核"}, nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("appeal %d: HTTP %d", i, r.StatusCode)
		}
	}
	var page struct {
		Appeals []struct{ ID string }
	}
	var e apiError
	for resolved := 0; resolved <= 10; resolved++ {
		if r := n.call("GET", "/v1/appeals", desk.Token, nil, &page); r.StatusCode != http.StatusOK {
			t.Fatalf("listing the queue after %d appeals resolved: HTTP %d", resolved, r.StatusCode)
		}
		if want := 100 - resolved; len(page.Appeals) != want {
			t.Fatalf("%d appeals listed, want %d", len(page.Appeals), want)
		}
		if r := n.call("PUT", "/v1/appeals/"+page.Appeals[0].ID, desk.Token, map[string]string{"outcome": "rejected", "note": "已复核"}, &e); r.StatusCode != http.StatusOK {
			t.Fatalf("resolve: HTTP %d %+v", r.StatusCode, e)
		}
	}
	if got := n.auditCount("subject.read"); got < 100*11-55 {
		t.Fatalf("%d reads audited: each appeal listed is audited every time it is shown", got)
	}
}

// A read whose subject.read entry cannot be written is refused, with
// nothing of the record in the answer: the record, the appeals queue and
// the paper page alike. The resident's own read is not an operator's
// read and goes on.
func TestOperatorReadIsRefusedWhenItsAuditEntryCannotBeWritten(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	id, resident := n.enrol(residentName, residentID)
	if r := n.call("POST", "/v1/appeals", resident, map[string]string{"message": "我的红码有误"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("appeal: HTTP %d", r.StatusCode)
	}
	var paper issued
	if r := n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &paper); r.StatusCode != http.StatusCreated {
		t.Fatalf("paper code: HTTP %d", r.StatusCode)
	}
	n.failAudit("subject.read")
	for _, path := range []string{"/v1/subjects/" + id, "/v1/appeals", "/v1/codes/" + paper.JTI + "/paper.png"} {
		r := n.call("GET", path, n.operator, nil, nil)
		body, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "张") ||
			strings.Contains(string(body), "我的红码有误") || bytes.HasPrefix(body, []byte("\x89PNG")) {
			t.Errorf("GET %s with its audit entry refused: HTTP %d %.80q", path, r.StatusCode, body)
		}
	}
	if r := n.call("GET", "/v1/subjects/"+id, resident, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("the resident's own read: HTTP %d", r.StatusCode)
	}
}
