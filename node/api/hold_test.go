package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// A resident whose status is red deleted their own record, and with it
// the blind index of their ID number that refuses a second enrolment; an
// operator then enrolled them again, green by default, and the new code
// verified green: a red status washed in two steps. A resident's own
// deletion is now refused while the status is yellow or red (409
// status_held, saying why and what they can do), the record and its
// index stay, and the second enrolment is refused. Once the status is
// green the resident can delete; an operator can delete at any status.
func TestAResidentCannotWashAYellowOrRedStatusByDeletingThemselves(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	for i, held := range []string{"red", "yellow"} {
		id, resident := n.enrol(residentName, idNumberN(i))
		if resp := n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": held, "reason": "close contact"}, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("set %s: %d", held, resp.StatusCode)
		}
		var e apiError
		resp := n.call("DELETE", "/v1/subjects/"+id, resident, nil, &e)
		if resp.StatusCode != http.StatusConflict || e.Error.Code != "status_held" {
			t.Fatalf("%s resident deletes themselves: %d %+v, want 409 status_held", held, resp.StatusCode, e)
		}
		for _, says := range []string{held, "health authority keeps it", "appeal", "once it is green"} {
			if !strings.Contains(e.Error.Message, says) {
				t.Errorf("the refusal %q does not say %q", e.Error.Message, says)
			}
		}
		var rec struct{ Status string }
		if resp := n.call("GET", "/v1/subjects/"+id, resident, nil, &rec); resp.StatusCode != http.StatusOK || rec.Status != held {
			t.Fatalf("the resident's record after the refusal: %d %+v, want it kept, %s", resp.StatusCode, rec, held)
		}
		var dup apiError
		if resp := n.call("POST", "/v1/subjects", n.operator, enrolment(residentName, idNumberN(i)), &dup); resp.StatusCode != http.StatusConflict || !strings.Contains(dup.Error.Message, id) {
			t.Fatalf("second enrolment of a %s resident: %d %+v, want 409 naming %s", held, resp.StatusCode, dup, id)
		}
		if c := n.issue(id, resident); n.verify(c.Code).Status != held {
			t.Errorf("the %s resident's code after the refused deletion does not say %s", held, held)
		}
	}
	if got := n.auditCount("subject.delete"); got != 0 {
		t.Errorf("%d subject.delete audit entries after refused deletions, want none", got)
	}

	// Green again (an appeal upheld): the resident's own deletion goes through.
	id, resident := n.enrol(residentName, idNumberN(7))
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": "close contact"}, nil)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "green", "reason": "appeal upheld"}, nil)
	if st, code := n.status("DELETE", "/v1/subjects/"+id, resident, nil); st != http.StatusNoContent {
		t.Fatalf("green resident deletes themselves: %d %s", st, code)
	}
	// An operator deletes a red resident (a legal order), audited.
	id, _ = n.enrol(residentName, idNumberN(8))
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": "close contact"}, nil)
	if st, code := n.status("DELETE", "/v1/subjects/"+id, n.operator, nil); st != http.StatusNoContent {
		t.Fatalf("operator deletes a red resident: %d %s", st, code)
	}
	if got := n.auditCount("subject.delete"); got != 2 {
		t.Errorf("%d subject.delete audit entries, want 2 (the green resident's, the operator's)", got)
	}
}
