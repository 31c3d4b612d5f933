package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hcfed/hcfed/node/seal"
)

// hcnode restore checked a copy's seal, then read the copy again to put
// it in place: whoever could write where backups are kept could replace
// it in between (an inotify watch on the seal's read is enough), and the
// replacement was restored. Restore now checks the seal against the bytes
// it stages (RestoreOptions.KEK).
func TestRestoreChecksTheSealAgainstTheBytesItPutsInPlace(t *testing.T) {
	ctx := context.Background()
	kek, err := seal.NewKey(seal.NewKeyMaterial())
	if err != nil {
		t.Fatal(err)
	}
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	dir := t.TempDir()
	src := filepath.Join(dir, "node.db")
	if err := Backup(ctx, path, src); err != nil {
		t.Fatal(err)
	}
	if err := SealBackup(src, kek); err != nil {
		t.Fatal(err)
	}
	enrol(t, db, "s_2")
	forged := filepath.Join(t.TempDir(), "node.db")
	if err := Backup(ctx, path, forged); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckBackupSeal(src, kek); err != nil {
		t.Fatalf("the sealed copy: %v", err)
	}
	before := dirContents(t, filepath.Dir(path))
	// Checked: now another database takes the sealed copy's place.
	if err := os.Rename(forged, src); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, src, "", path, "20300101T000000Z", RestoreOptions{KEK: kek}); !errors.Is(err, ErrBackupSealMismatch) {
		t.Fatalf("a copy replaced after its seal was checked: restore answered %v, want %v", err, ErrBackupSealMismatch)
	}
	after := dirContents(t, filepath.Dir(path))
	if len(after) != len(before) {
		t.Errorf("the refused restore left files behind or took some away: %d files, %d before", len(after), len(before))
	}
	for f, b := range before {
		if !bytes.Equal(after[f], b) {
			t.Errorf("the refused restore changed %s", f)
		}
	}
	// Unsealed, it is restored only if the operator accepted it so.
	if err := os.Remove(src + BackupSealSuffix); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, src, "", path, "20300101T000000Z", RestoreOptions{KEK: kek}); !errors.Is(err, ErrBackupUnsealed) {
		t.Fatalf("an unsealed copy not accepted: restore answered %v, want %v", err, ErrBackupUnsealed)
	}
	if _, err := Restore(ctx, src, "", path, "20300101T000000Z", RestoreOptions{KEK: kek, Unsealed: []string{src}}); err != nil {
		t.Fatalf("an unsealed copy accepted: %v", err)
	}
	// A copy sealed and unchanged is restored.
	sealed := filepath.Join(t.TempDir(), "node.db")
	if err := Backup(ctx, path, sealed); err != nil {
		t.Fatal(err)
	}
	if err := SealBackup(sealed, kek); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, sealed, "", path, "20300101T000001Z", RestoreOptions{KEK: kek}); err != nil {
		t.Fatalf("a sealed copy: %v", err)
	}
}
