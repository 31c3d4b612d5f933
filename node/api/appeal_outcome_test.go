package api_test

import "testing"

// TestAnUpheldAppealChangesTheStatus: a resident reads "upheld" as "my
// status was wrong" (seed rule 9). Upholding without naming the status
// they should have is refused, and changes nothing: the appeal stays open
// and the resident's code stays valid. Upheld with a status, the status
// changes and the earlier code is revoked.
func TestAnUpheldAppealChangesTheStatus(t *testing.T) {
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
