package daemon_test

import "testing"

// TestALostPaperCodeIsWithdrawnAtEveryPeerAndThePhoneCodeStays walks a
// resident who holds a paper code and a phone code (seed rule 9): the
// paper code is lost, the operator withdraws it, and every province
// refuses it while the phone code, and another resident's paper code,
// still verify; a status change then revokes a new paper code at every
// province as it does a phone code.
func TestALostPaperCodeIsWithdrawnAtEveryPeerAndThePhoneCodeStays(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	op := f.c.Tokens[0]
	subject, phone := f.enrolAndIssue(0, "张三", "11010519491231002X")
	other, _ := f.enrolAndIssue(0, "李四", "440106199001011235")
	paper := func(s string) string {
		var c struct{ Code string }
		f.mustCall(0, "POST", "/v1/subjects/"+s+"/codes", op, map[string]bool{"paper": true}, &c, 201)
		return c.Code
	}
	lost, othersPaper := paper(subject), paper(other)
	for i := range f.c.Nodes {
		f.eventually(i, lost, "ok")
	}

	var out struct{ Revoked int }
	f.mustCall(0, "DELETE", "/v1/subjects/"+subject+"/paper-codes", op, nil, &out, 200)
	if out.Revoked != 1 {
		t.Fatalf("withdrawing the lost paper code revoked %d codes, want 1", out.Revoked)
	}
	for i := range f.c.Nodes {
		f.eventually(i, lost, "revoked")
		for what, code := range map[string]string{"the resident's phone code": phone, "another resident's paper code": othersPaper} {
			if got := f.verify(i, code); got != "ok" {
				t.Errorf("%s: %s after the lost paper code was withdrawn: %s, want ok", f.c.Configs[i].Province, what, got)
			}
		}
	}
	if st := f.call(0, "DELETE", "/v1/subjects/"+subject+"/paper-codes", f.scanners[0], nil, nil); st != 403 {
		t.Errorf("a scanner withdrawing paper codes: HTTP %d, want 403", st)
	}

	renewed := paper(subject)
	for i := range f.c.Nodes {
		f.eventually(i, renewed, "ok")
	}
	f.setStatus(0, subject, "yellow")
	for i := range f.c.Nodes {
		f.eventually(i, renewed, "revoked")
	}
}
