package daemon_test

import "testing"

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
	f.holdsKeysetOf(peer, home)
	for i := range f.c.Nodes {
		if got := f.verify(i, old); got != "key_compromised" {
			t.Errorf("%s: a code of the key compromised after the backup verifies %q once it is restored, want key_compromised",
				f.c.Configs[i].Province, got)
		}
	}
	fresh := f.issue(home, subject)
	f.eventually(peer, fresh, "ok")
}
