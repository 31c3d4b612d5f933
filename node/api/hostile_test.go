package api_test

import (
	"net/http"
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
