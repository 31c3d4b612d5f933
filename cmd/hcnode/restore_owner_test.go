//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A restore run as root into the data directory of a node that runs as
// its own user put node.db and keys.db in place as root's, and the node
// then could not open them (check: "unable to open database file (14)").
// restore now refuses, before it reads the backup, when this process is
// not the data directory's owner. Making a directory another user's
// takes root: the test skips without it.
func TestRestoreRefusesADataDirectoryOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the data directory to another user")
	}
	dir, cfgPath := initCheckNode(t)
	bk := filepath.Join(t.TempDir(), "bk")
	if out, err := run(t, "backup", "--config", cfgPath, "--out", bk); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	out, err := run(t, "restore", "--config", cfgPath, "--from", bk, "--yes")
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534, and this is uid 0: run restore as the user the node runs as") {
		t.Fatalf("restore as root into uid 65534's data directory: %v\n%s", err, out)
	}
	requireUnchanged(t, dir, before, "a refused restore")
	// Its owner restores: here root, once the directory is root's again.
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "restore", "--config", cfgPath, "--from", bk, "--yes"); err != nil {
		t.Fatalf("restore by the data directory's owner: %v\n%s", err, out)
	}
}
