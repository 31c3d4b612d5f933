package daemon_test

import "testing"

// TestAReplacedWalletLinkRevokesThePhonesCodesAtEveryPeerAndNotThePaper
// walks a resident whose phone was lost: the operator gives them a new
// wallet link, and the code the lost phone shows — which a finder could
// otherwise show at a checkpoint until it expired — is refused at every
// province, as is the old link at home; the resident's paper code, which
// they hold on paper, and another resident's phone code still verify,
// and the new phone gets a code that does.
func TestAReplacedWalletLinkRevokesThePhonesCodesAtEveryPeerAndNotThePaper(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	op := f.c.Tokens[0]
	const card = "11010519491231002X"
	subject, old := f.enrolResident(0, "张三", card)
	_, othersPhone := f.enrolAndIssue(0, "李四", "440106199001011235")
	var phone, paper struct{ Code string }
	f.mustCall(0, "POST", "/v1/subjects/"+subject+"/codes", old, nil, &phone, 201)
	f.mustCall(0, "POST", "/v1/subjects/"+subject+"/codes", op, map[string]bool{"paper": true}, &paper, 201)
	for i := range f.c.Nodes {
		f.eventually(i, phone.Code, "ok")
	}

	var out struct {
		ResidentToken string `json:"resident_token"`
		Revoked       int    `json:"revoked"`
	}
	f.mustCall(0, "POST", "/v1/subjects/"+subject+"/token", op, map[string]string{"id_number": card}, &out, 201)
	if out.Revoked != 1 {
		t.Errorf("the new wallet link revoked %d codes, want 1 (the phone's)", out.Revoked)
	}
	if st := f.call(0, "GET", "/v1/subjects/"+subject, old, nil, nil); st != 401 {
		t.Errorf("the lost phone's link after the replacement: HTTP %d, want 401", st)
	}
	for i := range f.c.Nodes {
		f.eventually(i, phone.Code, "revoked")
		for what, code := range map[string]string{"the resident's paper code": paper.Code, "another resident's phone code": othersPhone} {
			if got := f.verify(i, code); got != "ok" {
				t.Errorf("%s: %s after the wallet link was replaced: %s, want ok", f.c.Configs[i].Province, what, got)
			}
		}
	}
	audited := 0
	for _, a := range f.auditEntries(0) {
		if a.Action == "code.revoke_phone" && a.Target == subject {
			audited++
		}
	}
	if audited != 1 {
		t.Errorf("%d code.revoke_phone audit entries for the resident, want 1", audited)
	}

	var renewed struct{ Code string }
	f.mustCall(0, "POST", "/v1/subjects/"+subject+"/codes", out.ResidentToken, nil, &renewed, 201)
	for i := range f.c.Nodes {
		f.eventually(i, renewed.Code, "ok")
	}
}
