package daemon_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
)

// Keys rotated after a backup were lost with the database the restore
// replaced, and reconciliation signed the keyset again from the backup's
// keys alone: every code signed after the backup by a key made since
// (a weekly rotation, a rotation by hand) answered unknown_key at every
// node at once, paper codes for up to a week. The keyset now keeps the
// public half of each such key, retired at the restore, until it
// expires, through the rotations that follow.
func TestRestoreKeepsCodesOfKeysMadeAfterTheBackupVerifying(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:2], nil)
	const home, peer = 0, 1
	province := f.c.Configs[home].Province
	subject, old := f.enrolAndIssue(home, "张三", "11010519491231002X")
	f.eventually(peer, old, "ok")
	backup := f.backup(home)
	for range 2 {
		if st := f.call(home, "POST", "/v1/keys/rotate", f.c.Tokens[home], nil, nil); st != 200 {
			t.Fatalf("rotate: %d", st)
		}
	}
	after := f.issue(home, subject)
	f.eventually(peer, after, "ok")

	f.restore(home, backup)
	f.holdsKeysetOf(peer, home)
	for i := range f.c.Nodes {
		if got := f.verify(i, after); got != "ok" {
			t.Errorf("%s: a code signed after the backup by a key the backup lacks verifies %q once it is restored, want ok",
				f.c.Configs[i].Province, got)
		}
		if got := f.verify(i, old); got != "ok" {
			t.Errorf("%s: a code of before the backup verifies %q once it is restored, want ok", f.c.Configs[i].Province, got)
		}
	}
	fresh := f.issue(home, subject)
	f.eventually(peer, fresh, "ok")
	// A restart, then a rotation, signs a keyset that still lists it.
	if err := f.c.Stop(home); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Restart(context.Background(), home); err != nil {
		t.Fatal(err)
	}
	f.waitReady(home)
	if st := f.call(home, "POST", "/v1/keys/rotate", f.c.Tokens[home], nil, nil); st != 200 {
		t.Fatalf("rotate after the restore: %d", st)
	}
	f.holdsKeysetOf(peer, home)
	for i := range f.c.Nodes {
		if got := f.verify(i, after); got != "ok" {
			t.Errorf("%s: after a rotation that followed the restore, the code verifies %q, want ok", f.c.Configs[i].Province, got)
		}
	}
	// The machine the restore replaced may have been taken with that key:
	// the operators can mark it compromised.
	lost := testkit.CodeKID(t, after)
	if k := f.c.Nodes[home].Node.State().Keyset(province).Signing[lost]; k == nil || k.State != "retired" {
		t.Fatalf("the key that signed the code of after the backup is %v in the keyset, want retired", k)
	}
	// Operators find it where they look for keys, marked as kept public.
	type key struct {
		KID, State string
		KeptPublic bool `json:"kept_public"`
	}
	var keys struct{ Keys []key }
	if st := f.call(home, "GET", "/v1/keys", f.c.Tokens[home], nil, &keys); st != 200 {
		t.Fatalf("keys: %d", st)
	}
	if !slices.Contains(keys.Keys, key{KID: lost, State: "retired", KeptPublic: true}) {
		t.Errorf("GET /v1/keys lists %+v, want %s retired and kept public", keys.Keys, lost)
	}
	if st := f.call(home, "POST", "/v1/keys/"+lost+"/compromise", f.c.Tokens[home], nil, nil); st != 200 {
		t.Fatalf("compromise of the key kept public: %d", st)
	}
	f.eventually(peer, after, "key_compromised")
	// ... and new content keys are started, as for a key the node holds.
	rekeyed := false
	for _, e := range f.auditEntries(home) {
		rekeyed = rekeyed || (e.Action == "key.content_rekey" && strings.Contains(e.Detail, lost))
	}
	if !rekeyed {
		t.Error("no new content key was started for the compromise of the key kept public")
	}
}
