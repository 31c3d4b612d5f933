package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
)

// noStaleLimit lets a test move its node's clock by a code's lifetime
// without the trust state going stale (trust.stale_limit is 24h too).
func noStaleLimit(c *config.Config) { c.Trust.StaleLimit = 0 }

// A code is accepted until ClockSkew past its expiry (trust.Verify), so a
// status change must revoke it until then too: otherwise a resident turned
// red keeps a code that every scanner shows green for up to two minutes.
func TestStatusChangeRevokesACodeStillAcceptedInItsExpiryGrace(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", noStaleLimit)
	id, tok := n.enrol(residentName, residentID)
	c := n.issue(id, tok)
	n.clock.Add(time.Until(time.Unix(c.Exp, 0)) + trust.ClockSkew/2)
	if v := n.verify(c.Code); !v.Valid || v.Status != "green" {
		t.Fatalf("before the change, inside the grace: %+v, want a valid green code", v)
	}
	if resp := n.call("PUT", "/v1/subjects/"+id+"/status", n.operator,
		map[string]string{"status": "red", "reason": "close contact"}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status: HTTP %d", resp.StatusCode)
	}
	if v := n.verify(c.Code); v.Valid || v.Reason != "revoked" {
		t.Fatalf("after the change to red: %+v, want revoked", v)
	}
}

// The same holds for a deletion: a deleted resident's codes must stop
// verifying at once, also the one just past its expiry.
func TestDeletionRevokesACodeStillAcceptedInItsExpiryGrace(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", noStaleLimit)
	id, tok := n.enrol(residentName, residentID)
	c := n.issue(id, tok)
	n.clock.Add(time.Until(time.Unix(c.Exp, 0)) + trust.ClockSkew/2)
	if v := n.verify(c.Code); !v.Valid {
		t.Fatalf("before the deletion, inside the grace: %+v, want valid", v)
	}
	if resp := n.call("DELETE", "/v1/subjects/"+id, tok, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d", resp.StatusCode)
	}
	if v := n.verify(c.Code); v.Valid || v.Reason != "revoked" {
		t.Fatalf("after the deletion: %+v, want revoked", v)
	}
}

// A resident whose phone was lost has their wallet token replaced at a
// service point: the old token stops working at once (even cached), the
// new one works, and nobody but an operator can do it.
func TestReplacedResidentTokenIsRefusedAtOnceAndTheNewOneWorks(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, old := n.enrol(residentName, residentID)
	if resp := n.call("GET", "/v1/subjects/"+id, old, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("record with the first token: HTTP %d", resp.StatusCode) // and the token is cached now
	}
	card := map[string]string{"id_number": residentID}
	for who, tok := range map[string]string{"the resident": old, "a scanner": n.scanner} {
		var e apiError
		if resp := n.call("POST", "/v1/subjects/"+id+"/token", tok, card, &e); resp.StatusCode != http.StatusForbidden || e.Error.Code != "forbidden" {
			t.Errorf("%s replacing the token: HTTP %d %+v, want 403 forbidden", who, resp.StatusCode, e)
		}
	}
	// An operator mints a token (and so the record in clear) only for the
	// resident in front of them: the ID number on their card is required.
	for _, c := range []struct {
		body       any
		status     int
		code, what string
	}{
		{nil, http.StatusBadRequest, "invalid", "without an ID number"},
		{map[string]string{"id_number": "110105194912310021"}, http.StatusForbidden, "forbidden", "with another ID number"},
	} {
		var e apiError
		if resp := n.call("POST", "/v1/subjects/"+id+"/token", n.operator, c.body, &e); resp.StatusCode != c.status || e.Error.Code != c.code {
			t.Errorf("operator %s: HTTP %d %+v, want %d %s", c.what, resp.StatusCode, e, c.status, c.code)
		}
	}
	// The refusal says whether a number is the resident's: each one is
	// audited, with who asked and for whom, never the number tried.
	entries, err := n.d.DB.AuditEntries(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, a := range entries {
		if a.Action == "subject.token_refused" {
			refused++
			if a.Target != id || a.Actor == "" || strings.Contains(a.Detail, "110105194912310021") {
				t.Errorf("refusal audited as %+v", a)
			}
		}
	}
	if refused != 1 {
		t.Errorf("%d refusals of a wrong ID number audited, want 1", refused)
	}
	var e apiError
	if resp := n.call("POST", "/v1/subjects/s_nosuch/token", n.operator, card, &e); resp.StatusCode != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("unknown subject: HTTP %d %+v, want 404 not_found", resp.StatusCode, e)
	}
	if resp := n.call("GET", "/v1/subjects/"+id, old, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after refused replacements the first token must still work: HTTP %d", resp.StatusCode)
	}

	var out struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
		WalletURL     string `json:"wallet_url"`
	}
	if resp := n.call("POST", "/v1/subjects/"+id+"/token", n.operator, map[string]string{"id_number": "11010519491231002x"}, &out); resp.StatusCode != http.StatusCreated {
		t.Fatalf("operator replacing the token: HTTP %d", resp.StatusCode)
	}
	if out.ID != id || out.ResidentToken == "" || out.ResidentToken == old || out.WalletURL != n.d.URL+"/wallet#token="+out.ResidentToken {
		t.Fatalf("replacement = %+v", out)
	}
	if resp := n.call("GET", "/v1/subjects/"+id, old, nil, &e); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old token after the replacement: HTTP %d, want 401", resp.StatusCode)
	}
	if resp := n.call("POST", "/v1/subjects/"+id+"/codes", old, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old token issuing a code: HTTP %d, want 401", resp.StatusCode)
	}
	if resp := n.call("GET", "/v1/subjects/"+id, out.ResidentToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("new token: HTTP %d, want 200", resp.StatusCode)
	}
	n.issue(id, out.ResidentToken)
}

// A checkpoint is told which province issued a code only when the code's
// signature proves it (an expired or revoked code is still genuine): a
// code naming a member province under a signature of nobody's was
// answered with that province as its issuer, and the scanner showed
// "Issued by Guangdong" for a forgery.
func TestVerifyNamesTheIssuerOnlyOfACodeWhoseSignatureChecked(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", noStaleLimit)
	id, tok := n.enrol(residentName, residentID)
	c := n.issue(id, tok)
	dot := strings.LastIndexByte(c.Code, '.')
	flip := byte('A')
	if c.Code[dot+1] == flip {
		flip = 'B'
	}
	forged := c.Code[:dot+1] + string(flip) + c.Code[dot+2:]
	if v := n.verify(forged); v.Valid || v.Reason != string(trust.ReasonBadSignature) || v.Issuer != "" {
		t.Errorf("a forged signature: %+v, want bad_signature and no issuer", v)
	}
	n.clock.Add(time.Until(time.Unix(c.Exp, 0)) + 2*trust.ClockSkew)
	if v := n.verify(c.Code); v.Valid || v.Reason != string(trust.ReasonExpired) || v.Issuer != "440000" {
		t.Errorf("a genuine code past its expiry: %+v, want expired and its issuer", v)
	}
}
