package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// contentKeyOf is the id of the content key a code's contents are
// encrypted under: the kid of its ct header.
func contentKeyOf(t *testing.T, code string) string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(code, "HCF1:"), ".")
	if len(parts) != 3 {
		t.Fatalf("code is not a compact JWS")
	}
	var claims struct{ CT string }
	decodePart(t, parts[1], &claims)
	var h struct{ Kid string }
	decodePart(t, strings.Split(claims.CT, ".")[0], &h)
	return h.Kid
}

func decodePart(t *testing.T, part string, v any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// A member the trust list suspends kept the content keys it was granted,
// the next epoch's included, and read the masked contents of every code
// issued until both expired. Now each node starts a new content key at
// once, granted to members in good standing only: a code issued after the
// suspension is no_content_key at the suspended member and ok elsewhere,
// codes issued before stay readable, and reinstatement grants the
// current key again.
func TestSuspendedMemberCannotReadCodesIssuedAfterItsSuspension(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	const gd, sh, bj = 0, 1, 2
	subject, before := f.enrolAndIssue(gd, "张三", "11010519491231002X")
	f.eventually(sh, before, "ok")
	f.eventually(bj, before, "ok")

	ops := f.c.Operators
	v2 := propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "suspend", ID: "110000"})
	f.publish(signWith(t, v2, ops[0], ops[1]))
	f.waitVersion(2)
	// Run reacts to the new list on its own; calling it here as well
	// makes the test independent of when (the call is idempotent).
	if err := f.c.Nodes[gd].Node.TrustListChanged(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := f.issue(gd, subject)
	kid := contentKeyOf(t, after)
	if kid == contentKeyOf(t, before) {
		t.Errorf("the code issued after the suspension is encrypted under %s, the key the suspended member holds", kid)
	}
	f.eventually(sh, after, "ok")
	if got := f.verify(bj, after); got != "no_content_key" {
		t.Errorf("the suspended member reads a code issued after its suspension: %q, want no_content_key", got)
	}
	if held := f.c.Nodes[bj].Node.State().ContentKeyIDs("440000"); slices.Contains(held, kid) {
		t.Errorf("the suspended member holds %s, the content key of codes issued after its suspension", kid)
	}
	if got := f.verify(sh, before); got != "ok" {
		t.Errorf("Shanghai answers %q for a code issued before the suspension, want ok", got)
	}

	v3 := propose(t, v2, time.Now(), trust.Change{Op: "reinstate", ID: "110000"})
	f.publish(signWith(t, v3, ops[0], ops[1]))
	f.waitVersion(3)
	f.eventually(bj, after, "ok")
	f.eventually(bj, f.issue(gd, subject), "ok")
}
