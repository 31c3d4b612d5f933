package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckFailsAsServeRefusesAMissingEmbeddedNATSConfig: a node whose
// data directory lacks the nats-accounts that init wrote (a node moved or
// restored into a directory of its own) is a FAIL naming the setting, the
// file and what to copy, and serve refuses in the same words before it
// opens anything. Before, check said "ok  nats: embedded server" and
// serve stopped with nats-server's "open …: no such file or directory".
func TestCheckFailsAsServeRefusesAMissingEmbeddedNATSConfig(t *testing.T) {
	for _, tc := range []struct{ file, setting string }{
		{"nats-server.conf", "nats.server_config"},
		{"440000.nk", "nats.nkey_seed_file"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir, cfgPath := initCheckNode(t)
			f := filepath.Join(dir, "nats-accounts", tc.file)
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			requireCheckFailsAsServe(t, dir, cfgPath, "nats", tc.setting+": "+f+" is missing: it is the embedded NATS "+
				"server's, which 'hcnode init' wrote into the data directory ("+filepath.Join(dir, "nats-accounts"))
		})
	}
}
