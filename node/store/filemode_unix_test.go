//go:build unix

package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// permissiveUmask sets the process umask to 0 for the test, so that a file
// created without an explicit mode shows as world-readable (0644 from
// SQLite) whatever the machine's umask. The test must not be parallel: the
// umask is process-wide.
func permissiveUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

// wantOwnerOnly fails for every file in dir readable or writable by
// anyone but its owner, and for a dir without the files it must hold.
func wantOwnerOnly(t *testing.T, dir string, mustHave ...string) {
	t.Helper()
	seen := map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	for _, name := range mustHave {
		if !seen[name] {
			t.Errorf("%s was not written; the test checks nothing about it", name)
		}
	}
}

func TestDatabaseKeyStoreAndSidecarFilesAreOwnerOnly(t *testing.T) {
	permissiveUmask(t)
	path := filepath.Join(t.TempDir(), "node.db")
	db := openAt(t, path)
	ctx := context.Background()
	if err := db.SetMeta(ctx, "province", "440000"); err != nil {
		t.Fatal(err)
	}
	if err := db.putSubjectKey(ctx, "s1", []byte("sealed"), nil); err != nil {
		t.Fatal(err)
	}
	// While open in WAL mode both databases have their -wal and -shm.
	wantOwnerOnly(t, filepath.Dir(path), "node.db", "node.db-wal", "node.db-shm", KeysFile, KeysFile+"-wal", KeysFile+"-shm")
}

func TestOpenTakesOthersAccessAwayFromAnExistingDatabase(t *testing.T) {
	permissiveUmask(t)
	path := filepath.Join(t.TempDir(), "node.db")
	db := openAt(t, path)
	if err := db.SetMeta(context.Background(), "province", "440000"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// As an older release left them: readable by everyone.
	for _, p := range []string{path, KeysPath(path)} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db = openAt(t, path)
	if v, err := db.GetMeta(context.Background(), "province"); err != nil || v != "440000" {
		t.Fatalf("reopened database lost its data: %q, %v", v, err)
	}
	wantOwnerOnly(t, filepath.Dir(path), "node.db", KeysFile)
}
