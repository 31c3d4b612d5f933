package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// A province rotates its root key through the federation: the node makes
// the next root, nothing changes until the operators list it, then the
// node re-signs its keyset with it and every peer follows — codes issued
// before and after keep verifying everywhere.
func TestProvinceRootRotationThroughTheTrustList(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, before := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, before, "ok")
	oldRoot := f.held().Members["440000"].RootKID

	var next struct {
		KID string          `json:"kid"`
		JWK json.RawMessage `json:"jwk"`
	}
	if st := f.call(0, "POST", "/v1/keys/root/rotate", f.c.Tokens[0], nil, &next); st != 200 || next.KID == "" || next.KID == oldRoot {
		t.Fatalf("rotate-root: %d %+v", st, next)
	}
	var again struct{ KID string }
	f.call(0, "POST", "/v1/keys/root/rotate", f.c.Tokens[0], nil, &again)
	if again.KID != next.KID {
		t.Fatalf("a second rotate-root made another key: %s, %s", again.KID, next.KID)
	}
	// Until the operators list it, the old root still signs.
	f.eventually(1, f.issue(0, subject), "ok")
	if got := keysetSigner(t, f, 1); got != oldRoot {
		t.Fatalf("keyset signed by %s before the list names the new root", got)
	}

	ops := f.c.Operators
	v2 := propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "set-root", ID: "440000", Key: next.JWK})
	f.publish(signWith(t, v2, ops[0], ops[1]))
	f.waitVersion(2)
	for i := range f.c.Nodes {
		waitFor(t, f.c.Configs[i].Province+" holding Guangdong's keyset under the new root", func() error {
			if got := keysetSigner(t, f, i); got != next.KID {
				return fmt.Errorf("signed by %s", got)
			}
			return nil
		})
	}
	after := f.issue(0, subject)
	for i := range f.c.Nodes {
		f.eventually(i, after, "ok")
		f.eventually(i, before, "ok")
	}
	// The new root survives a restart of the province's node.
	if err := f.c.Restart(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	f.eventually(1, f.issue(0, subject), "ok")
	if got := keysetSigner(t, f, 1); got != next.KID {
		t.Fatalf("after restart the keyset is signed by %s", got)
	}
}

// keysetSigner is the kid of the root that signed the Guangdong keyset
// province i holds, or "" if it holds none.
func keysetSigner(t *testing.T, f *fedTest, i int) string {
	t.Helper()
	ks := f.c.Nodes[i].Node.State().Keyset("440000")
	if ks == nil {
		return ""
	}
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(ks.Raw, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// A province the federation removed cannot change its keys: the node says
// so and commits nothing, rather than half-rotating into a keyset no peer
// would accept.
func TestRemovedProvinceKeyChangesAreRefusedAndCommitNothing(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	ops := f.c.Operators
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "remove", ID: "110000"}), ops[0], ops[1]))
	f.waitVersion(2)
	var before, after struct{ Keys []struct{ KID, State string } }
	f.call(2, "GET", "/v1/keys", f.c.Tokens[2], nil, &before)
	var e struct {
		Error struct{ Code, Message string }
	}
	if st := f.call(2, "POST", "/v1/keys/rotate", f.c.Tokens[2], nil, &e); st != 409 || e.Error.Code != "conflict" || !strings.Contains(e.Error.Message, "removed") {
		t.Fatalf("rotate on a removed province: %d %+v", st, e)
	}
	if st := f.call(2, "POST", "/v1/keys/"+before.Keys[0].KID+"/compromise", f.c.Tokens[2], nil, &e); st != 409 {
		t.Fatalf("compromise on a removed province: %d %+v", st, e)
	}
	f.call(2, "GET", "/v1/keys", f.c.Tokens[2], nil, &after)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("keys changed: %v → %v", before, after)
	}
}
