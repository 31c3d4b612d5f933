package api_test

import (
	"net/http"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// After 'keys compromise', a resident's codes of the compromised key are
// refused everywhere (key_compromised) and their QR images too, so the
// wallet asks for a new code; but those codes still counted toward
// codes.max_live, and a resident holding max_live of them got
// limit_reached until they expired, a day later. They no longer count.
func TestCodesOfACompromisedKeyDoNotCountTowardMaxLive(t *testing.T) {
	n := startNode(t, "440000", generous, func(c *config.Config) { c.Codes.MaxLive = 2 })
	id, resident := n.enrol(residentName, residentID)
	old := n.issue(id, resident)
	n.issue(id, resident)
	if st, code := n.status("POST", "/v1/subjects/"+id+"/codes", resident, nil); st != http.StatusConflict || code != "limit_reached" {
		t.Fatalf("a code past max_live: %d %s, want 409 limit_reached: this test checks nothing", st, code)
	}
	if resp := n.call("POST", "/v1/keys/"+kidOf(t, old.Code)+"/compromise", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	var fresh issued
	resp := n.call("POST", "/v1/subjects/"+id+"/codes", resident, nil, &fresh)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a new code after the compromise of the key of all the resident's live codes: %d, want 201", resp.StatusCode)
	}
	if v := n.verify(fresh.Code); !v.Valid {
		t.Errorf("the new code: %+v", v)
	}
	n.issue(id, resident)
	if st, code := n.status("POST", "/v1/subjects/"+id+"/codes", resident, nil); st != http.StatusConflict || code != "limit_reached" {
		t.Errorf("past max_live codes of the new key: %d %s, want 409 limit_reached", st, code)
	}
}
