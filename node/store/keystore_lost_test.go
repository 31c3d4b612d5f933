package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A node.db brought back without its keys.db (a restore of one file, a
// key store moved away) opened as if new: Open made an empty key store,
// the node started, and every resident's record stayed sealed for good.
// Open now refuses, says why and what to do, and creates nothing.
func TestOpenRefusesResidentsWithoutTheirKeyStore(t *testing.T) {
	ctx := context.Background()
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	enrol(t, db, "s_2")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	keys := removeKeyStore(t, path)

	_, err := Open(ctx, path)
	if !errors.Is(err, ErrKeyStoreMissing) {
		t.Fatalf("Open without keys.db, 2 residents: %v, want ErrKeyStoreMissing", err)
	}
	for _, want := range []string{keys, "2 residents", "hcnode restore --keys-from"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(keys); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused open left a key store behind (%v)", err)
	}

	// With no copy left, the operator makes an empty key store on purpose,
	// as the refusal says, and the database opens without those keys.
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db1, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open with an empty key store made on purpose: %v", err)
	}
	db1.Close()

	// A database without residents may start with a new key store.
	empty := filepath.Join(t.TempDir(), "node.db")
	db2 := openAt(t, empty)
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(KeysPath(empty)); err != nil {
		t.Fatal(err)
	}
	db3, err := Open(ctx, empty)
	if err != nil {
		t.Fatalf("Open of a database without residents and without keys.db: %v", err)
	}
	db3.Close()
}

// A restore of a backup holding residents onto a data directory without
// a key store (a new machine, keys.db lost with the old one) replaced
// node.db and then failed to open it: the database was put back without
// the Restored mark, so a node started after the operator made an empty
// key store, as the refusal says, did not reconcile with the federation
// (codes revoked after the backup verified again at home, revocation
// seqs were used twice). Restore now refuses before it replaces
// anything, and once the key store is there it restores and marks.
func TestRestoreWithoutAKeyStoreRefusesBeforeReplacingAnything(t *testing.T) {
	ctx := context.Background()
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	backup := filepath.Join(t.TempDir(), "node.db")
	if err := Backup(ctx, path, backup); err != nil {
		t.Fatal(err)
	}
	// The new machine's data directory: no node.db, no keys.db.
	dst := filepath.Join(t.TempDir(), "node.db")
	missingKeys := filepath.Join(t.TempDir(), KeysFile)
	for name, keysSrc := range map[string]string{"no key store beside it": "", "--keys-from a missing copy": missingKeys} {
		_, err := Restore(ctx, backup, keysSrc, dst, "20300101T000000Z", RestoreOptions{})
		if err == nil {
			t.Fatalf("%s: restore of a backup holding a resident succeeded", name)
		}
		if _, serr := os.Stat(dst); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("%s: the refused restore (%v) put node.db in place (%v)", name, err, serr)
		}
		if _, serr := os.Stat(KeysPath(dst)); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("%s: the refused restore (%v) left a key store behind (%v)", name, err, serr)
		}
		if keysSrc == "" && !errors.Is(err, ErrKeyStoreMissing) {
			t.Fatalf("%s: %v, want ErrKeyStoreMissing", name, err)
		}
	}

	// No copy left: the operator makes an empty key store on purpose, as
	// the refusal says; the restore goes ahead and marks the database.
	if err := os.WriteFile(KeysPath(dst), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, backup, "", dst, "20300101T000000Z", RestoreOptions{}); err != nil {
		t.Fatalf("restore with an empty key store made on purpose: %v", err)
	}
	restored := openAt(t, dst)
	if _, err := restored.GetMeta(ctx, Restored); err != nil {
		t.Fatalf("restored database not marked Restored: %v", err)
	}
}

// KeyStoreNotLost read an error on node.db's schema as "no residents":
// a node.db that could not be read (here a damaged header) without its
// keys.db passed, and the open proper, which refuses such a file too,
// refused only after it had made an empty keys.db. Once the database was
// repaired, that empty key store let it start, and every resident's
// record stayed sealed for good. Now the open refuses first, saying it
// cannot tell, and creates nothing.
func TestOpenOfAnUnreadableDatabaseWithoutKeyStoreCreatesNone(t *testing.T) {
	ctx := context.Background()
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	keys := removeKeyStore(t, path)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte("not a database, damaged header"), good[30:]...)
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}

	err = KeyStoreNotLost(ctx, path, keys)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("KeyStoreNotLost of an unreadable database: %v, want a refusal naming %s", err, path)
	}
	if _, err := Open(ctx, path); err == nil {
		t.Fatal("Open of an unreadable database succeeded")
	}
	if _, err := os.Stat(keys); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused open made a key store (%v)", err)
	}
	// Repaired, the database is refused for the key store it lacks.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path); !errors.Is(err, ErrKeyStoreMissing) {
		t.Fatalf("Open of the repaired database without keys.db: %v, want ErrKeyStoreMissing", err)
	}
}

// removeKeyStore removes the key store beside the database at path, with
// its sidecars, and returns its path.
func removeKeyStore(t *testing.T, path string) string {
	t.Helper()
	keys := KeysPath(path)
	for _, f := range []string{keys, keys + "-wal", keys + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return keys
}
