//go:build unix

package daemon_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hcfed/hcfed/node/daemon"
)

// TestEveryFileANodeWritesIsOwnerOnly starts a two-province federation
// with the process umask at 0 (so a file created without an explicit mode
// shows as world-readable whatever the machine's umask), enrols, issues
// and verifies across provinces, and walks everything written below the
// data directory: each database, key store, WAL and SHM file, KEK file,
// JetStream file and operator key must be 0600 and each directory 0700.
// Only public material (root public keys, trust lists) may be readable.
func TestEveryFileANodeWritesIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: dir, Provinces: threeProvinces[:2]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f := &fedTest{t: t, c: c}
	f.addScanner(0)
	f.addScanner(1)
	_, code := f.enrolAndIssue(0, "张三", idWithCheck("44010619900101123"))
	f.eventually(1, code, "ok")

	var dbs int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		name, perm := d.Name(), fi.Mode().Perm()
		switch {
		case path == dir:
			// the test's own directory
		case d.IsDir():
			if perm != 0o700 {
				t.Errorf("directory %s has mode %v, want 0700", path, perm)
			}
		case strings.HasSuffix(name, ".pub.jwk") || strings.HasPrefix(name, "trustlist"):
			// public: what the federation operators publish
		case perm != 0o600:
			t.Errorf("%s has mode %v, want 0600", path, perm)
		}
		if name == "node.db" || name == "keys.db" || name == "node.db-wal" || name == "kek.key" {
			dbs++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dbs < 2*4 {
		t.Fatalf("found %d of the 8 database, WAL and KEK files of two nodes; the walk checked the wrong place", dbs)
	}
}
