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
	keys := KeysPath(path)
	for _, f := range []string{keys, keys + "-wal", keys + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}

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
