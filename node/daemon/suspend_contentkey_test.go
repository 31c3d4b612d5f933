package daemon_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/trust"
)

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
	kid := testkit.CodeContentKey(t, after)
	if kid == testkit.CodeContentKey(t, before) {
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

// A node that holds a trust list suspending a member, but had not yet
// started new content keys for it (it was down, or stopped between
// applying the list and committing the keys), starts them when it
// starts; a node that already did does not start them again.
func TestNodeStartsNewContentKeyOnStartForASuspensionItMissed(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	const gd, sh, bj = 0, 1, 2
	subject, _ := f.enrolAndIssue(gd, "张三", "11010519491231002X")
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "suspend", ID: "110000"}), ops[0], ops[1]))
	f.waitVersion(2)
	if err := f.c.Nodes[gd].Node.TrustListChanged(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := testkit.CodeContentKey(t, f.issue(gd, subject))

	// Back to the state of a node that cached v2 but never acted on it.
	if err := f.c.Stop(gd); err != nil {
		t.Fatal(err)
	}
	db := openNodeDB(t, f, gd)
	if _, err := db.Exec(`UPDATE meta SET value = '110000,310000' WHERE key = 'content_key.audience'`); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Restart(context.Background(), gd); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, f.c.Nodes[gd], "hcfed_content_key_rekeys_total"); got != 1 {
		t.Errorf("hcfed_content_key_rekeys_total = %v after a start that found the suspension not acted on, want 1", got)
	}
	after := f.issue(gd, subject)
	second := testkit.CodeContentKey(t, after)
	if second == first {
		t.Errorf("the node started without new content keys: codes are still under %s", first)
	}
	f.eventually(sh, after, "ok")
	if got := f.verify(bj, after); got != "no_content_key" {
		t.Errorf("the suspended member answers %q for a code issued after the restart, want no_content_key", got)
	}

	if err := f.c.Restart(context.Background(), gd); err != nil {
		t.Fatal(err)
	}
	if got := testkit.CodeContentKey(t, f.issue(gd, subject)); got != second {
		t.Errorf("a second start changed the content key again: %s, then %s", second, got)
	}
	if got := metricValue(t, f.c.Nodes[gd], "hcfed_content_key_rekeys_total"); got != 0 {
		t.Errorf("hcfed_content_key_rekeys_total = %v after a start with nothing to do, want 0", got)
	}
}
