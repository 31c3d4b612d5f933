package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

type keyList struct {
	Keys []struct {
		KID       string    `json:"kid"`
		State     string    `json:"state"`
		NotBefore time.Time `json:"nbf"`
	} `json:"keys"`
}

func (tn *testNode) keys() map[string][]string {
	tn.t.Helper()
	var kl keyList
	if st := tn.call("GET", "/v1/keys", tn.operator, nil, &kl).StatusCode; st != 200 {
		tn.t.Fatalf("keys: %d", st)
	}
	out := map[string][]string{}
	for _, k := range kl.Keys {
		out[k.State] = append(out[k.State], k.KID)
	}
	return out
}

func (tn *testNode) tick() {
	tn.t.Helper()
	if err := tn.d.Node.Tick(context.Background()); err != nil {
		tn.t.Fatal(err)
	}
}

// The schedule: a next key is published a day before the rotation, becomes
// active at it, and the retired key keeps verifying its codes until they
// expire, after which it is dropped.
func TestSigningKeysRotateOnScheduleWithNextKeyPublishedAhead(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Trust.StaleLimit = 0 })
	id, resident := n.enrol(residentName, residentID)
	old := n.issue(id, resident)
	first := n.keys()
	if len(first["active"]) != 1 || len(first["next"]) != 0 {
		t.Fatalf("after init: %v", first)
	}

	n.clock.Add(5 * 24 * time.Hour)
	n.tick()
	if k := n.keys(); len(k["next"]) != 0 {
		t.Fatalf("next key published five days early: %v", k)
	}
	n.clock.Add(24*time.Hour + time.Minute) // six days: one day before rotation
	n.tick()
	ahead := n.keys()
	if len(ahead["next"]) != 1 || ahead["active"][0] != first["active"][0] {
		t.Fatalf("a day before rotation: %v", ahead)
	}
	var jwks struct{ Keys []struct{ Kid string } }
	n.call("GET", "/.well-known/jwks.json", "", nil, &jwks)
	published := false
	for _, k := range jwks.Keys {
		published = published || k.Kid == ahead["next"][0]
	}
	if !published {
		t.Fatal("next key not in the JWKS a day ahead")
	}

	n.clock.Add(24 * time.Hour) // seven days: rotation
	n.tick()
	rotated := n.keys()
	if len(rotated["active"]) != 1 || rotated["active"][0] != ahead["next"][0] || len(rotated["retired"]) != 1 || rotated["retired"][0] != first["active"][0] {
		t.Fatalf("at rotation: %v", rotated)
	}
	fresh := n.issue(id, resident)
	if testkit.CodeKID(t, fresh.Code) != ahead["next"][0] {
		t.Fatal("new codes not signed by the new key")
	}
	if v := n.verify(fresh.Code); !v.Valid {
		t.Fatalf("code of the new key: %+v", v)
	}
	if v := n.verify(old.Code); v.Reason != "expired" {
		t.Fatalf("a week-old 24 h code should have expired on its own, got %+v", v)
	}

	// A day-old paper code of the retired key still verifies; once the
	// longest code it could have signed has expired, the key is dropped.
	n.clock.Add(8 * 24 * time.Hour)
	n.tick()
	for state, kids := range n.keys() {
		for _, kid := range kids {
			if kid == first["active"][0] {
				t.Fatalf("first key still %s after every code it could sign expired", state)
			}
		}
	}
}

func TestRetiredKeyStillVerifiesItsLiveCodes(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Trust.StaleLimit = 0 })
	id, resident := n.enrol(residentName, residentID)
	n.clock.Add(6*24*time.Hour + 12*time.Hour)
	n.tick()
	code := n.issue(id, resident) // 24 h, signed half a day before rotation
	n.clock.Add(13 * time.Hour)
	n.tick()
	if k := n.keys(); len(k["retired"]) != 1 || k["retired"][0] != testkit.CodeKID(t, code.Code) {
		t.Fatalf("the code's key should be retired by now: %v", k)
	}
	if v := n.verify(code.Code); !v.Valid {
		t.Fatalf("live code of the retired key: %+v", v)
	}
}

// The retention pass prunes audit entries older than
// privacy.retention.audit, and what remains still verifies from its anchor.
func TestRetentionPrunesTheAuditLogAndTheChainStillVerifies(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) {
		c.Trust.StaleLimit = 0
		c.Privacy.Retention.Audit = 48 * time.Hour
	})
	id, resident := n.enrol(residentName, residentID)
	n.verify(n.issue(id, resident).Code)
	n.clock.Add(72 * time.Hour)
	n.verify(n.issue(id, resident).Code)
	// The audit writer batches in the background: wait until the five
	// entries so far (operator token, scanner, enrolment, two
	// verifications) are in the log.
	waitFor(t, 10*time.Second, func() error {
		if c, err := n.d.DB.VerifyAudit(context.Background()); err != nil || c < 5 {
			return fmt.Errorf("%d audit entries written (%v)", c, err)
		}
		return nil
	})
	r, err := n.d.Node.Retain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Audit == 0 {
		t.Fatalf("nothing pruned from the audit log: %+v", r)
	}
	if _, err := n.d.DB.VerifyAudit(context.Background()); err != nil {
		t.Fatalf("audit chain after retention: %v", err)
	}
}
