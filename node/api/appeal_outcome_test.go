package api_test

import (
	"testing"
	"time"
)

// TestAnUpheldAppealChangesTheStatus: a resident reads "upheld" as "my
// status was wrong" (seed rule 9). Upholding without naming the status
// they should have is refused, and changes nothing: the appeal stays open
// and the resident's code stays valid. Upheld with a status, the status
// changes and the earlier code is revoked.
func TestAnUpheldAppealChangesTheStatus(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": "contact"}, nil)
	red := n.issue(id, resident)
	var filed appeal
	n.call("POST", "/v1/appeals", resident, map[string]string{"message": "I was not there"}, &filed)

	if st, code := n.status("PUT", "/v1/appeals/"+filed.ID, n.operator, map[string]string{"outcome": "upheld", "note": "records checked"}); st != 400 || code != "invalid" {
		t.Fatalf("upheld without a status: HTTP %d %s, want 400 invalid", st, code)
	}
	var mine struct{ Appeals []appeal }
	n.call("GET", "/v1/subjects/"+id+"/appeals", resident, nil, &mine)
	if len(mine.Appeals) != 1 || mine.Appeals[0].Status != "open" {
		t.Fatalf("after the refused resolution the resident sees %+v, want the appeal open", mine.Appeals)
	}
	if v := n.verify(red.Code); !v.Valid || v.Status != "red" {
		t.Fatalf("the resident's code after the refused resolution: %+v", v)
	}

	var resolved appeal
	n.call("PUT", "/v1/appeals/"+filed.ID, n.operator, map[string]string{"outcome": "upheld", "note": "records checked", "status": "green"}, &resolved)
	if resolved.Status != "upheld" || resolved.AppliedStatus != "green" {
		t.Fatalf("upheld with a status: %+v", resolved)
	}
	if v := n.verify(red.Code); v.Reason != "revoked" {
		t.Fatalf("the red code after the upheld appeal: %+v", v)
	}
	if v := n.verify(n.issue(id, resident).Code); v.Status != "green" {
		t.Fatalf("a code after the upheld appeal: %+v", v)
	}
}

// redWithAppeal enrols a resident, sets them red and files their appeal.
func (tn *testNode) redWithAppeal() (id, resident string, filed appeal) {
	tn.t.Helper()
	id, resident = tn.enrol(residentName, residentID)
	tn.call("PUT", "/v1/subjects/"+id+"/status", tn.operator, map[string]string{"status": "red", "reason": "contact"}, nil)
	tn.call("POST", "/v1/appeals", resident, map[string]string{"message": "I was not there"}, &filed)
	return id, resident, filed
}

// openQueue is the first page of open appeals, as an operator reads it.
func (tn *testNode) openQueue() []appeal {
	tn.t.Helper()
	var q struct{ Appeals []appeal }
	if resp := tn.call("GET", "/v1/appeals", tn.operator, nil, &q); resp.StatusCode != 200 {
		tn.t.Fatalf("open appeals: HTTP %d", resp.StatusCode)
	}
	return q.Appeals
}

// TestAResolutionOfAnAppealWhoseStatusChangedSinceIsRefused: an appeal
// filed while red disputes that red. When the health authority sets the
// status again afterwards (red for a new exposure, or yellow through the
// bulk path), upholding the old appeal would overwrite the newer status
// with green: it is refused (409 appeal_stale) and changes nothing, until
// the officer resolves it naming the status time they reviewed it
// against — which is refused again if the status changed after they read
// it.
func TestAResolutionOfAnAppealWhoseStatusChangedSinceIsRefused(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident, filed := n.redWithAppeal()
	upheld := map[string]any{"outcome": "upheld", "note": "records checked", "status": "green"}
	refused := func(body map[string]any, why string) {
		t.Helper()
		if st, code := n.status("PUT", "/v1/appeals/"+filed.ID, n.operator, body); st != 409 || code != "appeal_stale" {
			t.Fatalf("%s: HTTP %d %s, want 409 appeal_stale", why, st, code)
		}
	}

	n.clock.Add(time.Minute)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": "new exposure"}, nil)
	red := n.issue(id, resident)
	refused(upheld, "upheld after the status was set red again")
	if v := n.verify(red.Code); !v.Valid || v.Status != "red" {
		t.Fatalf("the red code after the refused resolution: %+v", v)
	}
	refused(map[string]any{"outcome": "rejected", "note": "the exposure stands"}, "rejected after the status was set red again")

	n.clock.Add(time.Minute)
	if _, out := n.bulk(`{"subject":"` + id + `","status":"yellow","reason":"outbreak","ref":"r1"}`); out.results[1]["result"] != "applied" {
		t.Fatalf("bulk yellow: %+v", out.results)
	}
	refused(upheld, "upheld after the bulk path set yellow")
	q := n.openQueue()
	if len(q) != 1 || q[0].SubjectStatus != "yellow" || !q[0].StatusChanged || q[0].SubjectStatusSince == nil {
		t.Fatalf("the queue after the status changed: %+v, want the appeal marked status_changed, yellow, with its time", q)
	}
	read := *q[0].SubjectStatusSince

	// The officer reviews against yellow; meanwhile red is set again.
	n.clock.Add(time.Minute)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": "new exposure"}, nil)
	upheld["subject_status_since"] = read
	refused(upheld, "upheld naming the status time read before the latest change")

	q = n.openQueue()
	upheld["subject_status_since"] = q[0].SubjectStatusSince
	var resolved appeal
	if resp := n.call("PUT", "/v1/appeals/"+filed.ID, n.operator, upheld, &resolved); resp.StatusCode != 200 || resolved.AppliedStatus != "green" {
		t.Fatalf("upheld after a review against the current status: HTTP %d %+v", resp.StatusCode, resolved)
	}
	if v := n.verify(n.issue(id, resident).Code); v.Status != "green" {
		t.Fatalf("a code after the upheld appeal: %+v", v)
	}
}

// TestAnUpheldAppealThatKeepsTheStatusRevokesNoCode: an appeal upheld
// with the status the resident already has (filed while red, yellow
// since, and yellow is what the officer finds right) changes nothing in
// their codes: their yellow phone code and their paper code stay valid.
// Setting a status again through PUT .../status is a new exposure and
// revokes; an appeal is not.
func TestAnUpheldAppealThatKeepsTheStatusRevokesNoCode(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident, filed := n.redWithAppeal()
	n.clock.Add(time.Minute)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "yellow", "reason": "downgraded"}, nil)
	phone := n.issue(id, resident)
	var paper issued
	if resp := n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &paper); resp.StatusCode != 201 {
		t.Fatalf("paper code: HTTP %d", resp.StatusCode)
	}
	before := outboxRows(t, n)

	q := n.openQueue()
	var resolved appeal
	body := map[string]any{"outcome": "upheld", "note": "red was wrong; yellow is right", "status": "yellow",
		"subject_status_since": q[0].SubjectStatusSince}
	if resp := n.call("PUT", "/v1/appeals/"+filed.ID, n.operator, body, &resolved); resp.StatusCode != 200 ||
		resolved.Status != "upheld" || resolved.AppliedStatus != "yellow" {
		t.Fatalf("upheld with the current status: HTTP %d %+v", resp.StatusCode, resolved)
	}
	for name, c := range map[string]issued{"phone": phone, "paper": paper} {
		if v := n.verify(c.Code); !v.Valid || v.Status != "yellow" {
			t.Fatalf("the %s code after an upheld appeal that kept the status: %+v, want valid yellow", name, v)
		}
	}
	if after := outboxRows(t, n); after != before {
		t.Fatalf("outbox seq %d -> %d: a revocation was published for an appeal that kept the status", before, after)
	}
}
