package daemon_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// A signing key marked compromised after a backup stays compromised once
// that backup is restored. Reconciliation signs the keyset again above
// the version the federation holds, and it signed it from the backup's
// keys: the compromised key was active again in a keyset every peer
// accepted, and whoever held it could sign codes that verified
// everywhere.
func TestRestoreKeepsAKeyCompromisedAfterTheBackupCompromised(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:2], nil)
	const home, peer = 0, 1
	province := f.c.Configs[home].Province
	subject, old := f.enrolAndIssue(home, "张三", "11010519491231002X")
	f.eventually(peer, old, "ok")
	backup := f.backup(home)
	var keys struct{ Keys []struct{ KID, State string } }
	if st := f.call(home, "GET", "/v1/keys", f.c.Tokens[home], nil, &keys); st != 200 {
		t.Fatalf("keys: %d", st)
	}
	var active string
	for _, k := range keys.Keys {
		if k.State == "active" {
			active = k.KID
		}
	}
	if st := f.call(home, "POST", "/v1/keys/"+active+"/compromise", f.c.Tokens[home], nil, nil); st != 200 {
		t.Fatalf("compromise: %d", st)
	}
	f.eventually(peer, old, "key_compromised")

	f.restore(home, backup)
	want := f.c.Nodes[home].Node.State().Keyset(province).Version
	testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, "the peer to hold the restored node's keyset", func() error {
		if ks := f.c.Nodes[peer].Node.State().Keyset(province); ks == nil || ks.Version < want {
			return fmt.Errorf("peer holds %v, want version %d", ks, want)
		}
		return nil
	})
	for i := range f.c.Nodes {
		if got := f.verify(i, old); got != "key_compromised" {
			t.Errorf("%s: a code of the key compromised after the backup verifies %q once it is restored, want key_compromised",
				f.c.Configs[i].Province, got)
		}
	}
	fresh := f.issue(home, subject)
	f.eventually(peer, fresh, "ok")
}
