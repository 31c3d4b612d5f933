package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	if _, err := SealBackup(ctx, kek, src, ""); err != nil {
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
	if _, err := CheckBackupSeals(src, "", kek, false); err != nil {
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
	assertDirUnchanged(t, filepath.Dir(path), before, "the refused restore")
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
	if _, err := SealBackup(ctx, kek, sealed, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, sealed, "", path, "20300101T000001Z", RestoreOptions{KEK: kek}); err != nil {
		t.Fatalf("a sealed copy: %v", err)
	}
}

// testBackup is one backup of the database at path (and its key store),
// as hcnode backup takes it: node.db and keys.db copies in their own
// directories, sealed together with kek (withKeys false: node.db alone).
type testBackup struct {
	db, keys string
	seal     BackupSeal
}

func takeTestBackup(t *testing.T, path string, kek *seal.Key, withKeys bool) testBackup {
	t.Helper()
	ctx := t.Context()
	b := testBackup{db: filepath.Join(t.TempDir(), "node.db")}
	if err := Backup(ctx, path, b.db); err != nil {
		t.Fatal(err)
	}
	if withKeys {
		b.keys = filepath.Join(t.TempDir(), KeysFile)
		if err := Backup(ctx, KeysPath(path), b.keys); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if b.seal, err = SealBackup(ctx, kek, b.db, b.keys); err != nil {
		t.Fatal(err)
	}
	return b
}

// twoDaysOfBackups opens a test database with a KEK and takes two sealed
// backups of it with their key stores: Monday's, with resident s_1, and
// Tuesday's, with s_2 enrolled since. The database is left open.
func twoDaysOfBackups(t *testing.T) (*seal.Key, *DB, string, testBackup, testBackup) {
	t.Helper()
	kek, err := seal.NewKey(seal.NewKeyMaterial())
	if err != nil {
		t.Fatal(err)
	}
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	monday := takeTestBackup(t, path, kek, true)
	enrol(t, db, "s_2")
	tuesday := takeTestBackup(t, path, kek, true)
	return kek, db, path, monday, tuesday
}

// A seal bound one file alone: a node.db and a keys.db of different
// backups, each genuine and sealed, were restored together (a node.db
// with the data keys of another day: residents enrolled since unreadable,
// or residents deleted since readable again). Each seal now names its
// backup's id, the time it was taken and the other copy's SHA-256, and
// both CheckBackupSeals and Restore refuse copies of different backups
// (ErrBackupMismatchedPair), saying when each was taken.
func TestRestoreRefusesADatabaseAndKeyStoreOfDifferentBackups(t *testing.T) {
	ctx := t.Context()
	kek, db, path, monday, tuesday := twoDaysOfBackups(t)
	alone := takeTestBackup(t, path, kek, false) // node.db alone
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if monday.seal.ID == tuesday.seal.ID || monday.seal.Taken.IsZero() || tuesday.seal.Taken.Before(monday.seal.Taken) {
		t.Fatalf("backups sealed as %+v and %+v, want two ids and their times", monday.seal, tuesday.seal)
	}
	before := dirContents(t, filepath.Dir(path))
	for _, c := range []struct {
		name    string
		db      testBackup
		keys    string
		mention string
	}{
		{"Monday's database, Tuesday's key store", monday, tuesday.keys, tuesday.seal.ID},
		{"Tuesday's database, Monday's key store", tuesday, monday.keys, monday.seal.ID},
		{"a database backed up alone, Monday's key store", alone, monday.keys, "has no key store copy"},
	} {
		if _, err := CheckBackupSeals(c.db.db, c.keys, kek, false); !errors.Is(err, ErrBackupMismatchedPair) ||
			!strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: CheckBackupSeals answered %v, want %v naming %q", c.name, err, ErrBackupMismatchedPair, c.mention)
		}
		if _, err := Restore(ctx, c.db.db, c.keys, path, "20300101T000000Z", RestoreOptions{KEK: kek}); !errors.Is(err, ErrBackupMismatchedPair) {
			t.Errorf("%s: Restore answered %v, want %v", c.name, err, ErrBackupMismatchedPair)
		}
		assertDirUnchanged(t, filepath.Dir(path), before, c.name+": the refused restore")
	}
	// The two copies of one backup, or its database alone, are restored;
	// the seals say which backup, and when.
	got, err := CheckBackupSeals(tuesday.db, tuesday.keys, kek, false)
	if err != nil || got.ID != tuesday.seal.ID || !got.Taken.Equal(tuesday.seal.Taken) || !got.Paired || len(got.Earlier) != 0 {
		t.Fatalf("the copies of one backup: %+v, %v; want backup %+v, paired", got, err, tuesday.seal)
	}
	if got, err := CheckBackupSeals(monday.db, "", kek, false); err != nil || got.ID != monday.seal.ID || got.Paired {
		t.Fatalf("a database alone: %+v, %v", got, err)
	}
	if _, err := Restore(ctx, tuesday.db, tuesday.keys, path, "20300101T000001Z", RestoreOptions{KEK: kek}); err != nil {
		t.Fatalf("the copies of one backup: %v", err)
	}
	if _, err := Restore(ctx, monday.db, "", path, "20300101T000002Z", RestoreOptions{KEK: kek}); err != nil {
		t.Fatalf("a database alone, keeping the key store: %v", err)
	}
}

// sealAsEarlierBuild replaces the seal beside path with one as the
// previous build wrote it: the file's SHA-256 alone.
func sealAsEarlierBuild(t *testing.T, path string, kek *seal.Key) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if err := os.WriteFile(path+BackupSealSuffix, kek.Seal([]byte("hcfed/backup-seal/v1\x00"+filepath.Base(path)), sum[:]), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Seals the previous build wrote (each file's SHA-256 alone) are still
// accepted: each file is checked against its own, as before, and as
// before nothing ties the pair or says when it was taken (Earlier lists
// them, for the plan to say so). A changed copy is still refused.
func TestRestoreAcceptsSealsOfTheEarlierBuild(t *testing.T) {
	ctx := t.Context()
	kek, db, path, monday, tuesday := twoDaysOfBackups(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{monday.db, monday.keys, tuesday.db, tuesday.keys} {
		sealAsEarlierBuild(t, f, kek)
	}
	got, err := CheckBackupSeals(tuesday.db, monday.keys, kek, false)
	if err != nil || got.ID != "" || !got.Taken.IsZero() || got.Paired || len(got.Earlier) != 2 {
		t.Fatalf("earlier seals: %+v, %v; want both listed as Earlier, nothing paired", got, err)
	}
	if _, err := Restore(ctx, tuesday.db, monday.keys, path, "20300101T000000Z", RestoreOptions{KEK: kek}); err != nil {
		t.Fatalf("earlier seals: %v", err)
	}
	// A database of this build with a key store the earlier build sealed
	// is not of one backup: this build seals both copies alike.
	wednesday := takeTestBackup(t, path, kek, true)
	if _, err := CheckBackupSeals(wednesday.db, monday.keys, kek, false); !errors.Is(err, ErrBackupMismatchedPair) {
		t.Errorf("this build's database, an earlier build's key store: %v, want %v", err, ErrBackupMismatchedPair)
	}
	// An earlier seal still binds its file.
	if err := os.WriteFile(tuesday.keys, append(fileBytes(t, tuesday.keys), 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckBackupSeals(tuesday.db, tuesday.keys, kek, false); !errors.Is(err, ErrBackupSealMismatch) {
		t.Errorf("a changed copy under an earlier seal: %v, want %v", err, ErrBackupSealMismatch)
	}
}

// Restore checked the staged bytes against the seal beside them, read
// again: whoever can write where backups are kept could put another
// genuine backup of this node (an older one, its seal with it) in place
// of the one the plan named, between the plan's check and the restore,
// and the older backup was restored while the plan said the newer. With
// RestoreOptions.Checked, each copy staged must be the one
// CheckBackupSeals read, seal or none.
func TestRestorePutsInPlaceTheBackupThePlanChecked(t *testing.T) {
	ctx := t.Context()
	kek, db, path, monday, tuesday := twoDaysOfBackups(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checked, err := CheckBackupSeals(tuesday.db, tuesday.keys, kek, false)
	if err != nil || checked.ID != tuesday.seal.ID {
		t.Fatalf("the plan's check: %+v, %v", checked, err)
	}
	before := dirContents(t, filepath.Dir(path))
	// Checked: now Monday's copies and seals take Tuesday's places.
	for _, pair := range [][2]string{{monday.db, tuesday.db}, {monday.keys, tuesday.keys}} {
		for _, suffix := range []string{"", BackupSealSuffix} {
			if err := os.Rename(pair[0]+suffix, pair[1]+suffix); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err = Restore(ctx, tuesday.db, tuesday.keys, path, "20300101T000000Z", RestoreOptions{KEK: kek, Checked: &checked})
	if !errors.Is(err, ErrBackupSealMismatch) {
		t.Fatalf("another backup put in place of the one checked: restore answered %v, want %v", err, ErrBackupSealMismatch)
	}
	assertDirUnchanged(t, filepath.Dir(path), before, "the refused restore")
	// The copies checked, unchanged, are restored.
	checked, err = CheckBackupSeals(tuesday.db, tuesday.keys, kek, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, tuesday.db, tuesday.keys, path, "20300101T000001Z", RestoreOptions{KEK: kek, Checked: &checked}); err != nil {
		t.Fatalf("the copies checked: %v", err)
	}
}
