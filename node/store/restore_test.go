package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A restore with --keys-from put node.db in place, then copied keys.db:
// a failure in that second copy (a full disk) left the backup's node.db
// beside the node's current keys.db, unmarked, so the next start opened
// a mismatched pair and did not reconcile with the federation. Restore
// now stages both copies beside their targets and swaps them in only
// when both are there, undoing the swap if a rename fails; the node's
// files are as they were after either failure.
func TestRestoreThatFailsHalfwayLeavesTheNodesFilesAsTheyWere(t *testing.T) {
	ctx := context.Background()
	const stamp = "20300101T000000Z"
	for name, fail := range map[string]func(path, src, keysSrc string) error{
		// A directory in the way makes the second copy fail, as a full
		// disk would.
		"the key store copy cannot be written": func(path, src, keysSrc string) error {
			if err := os.Mkdir(KeysPath(path)+restoringSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := Restore(ctx, src, keysSrc, path, stamp, RestoreOptions{})
			return err
		},
		// The database is swapped in, then the key store's rename fails
		// (its staged copy is gone): the database is swapped back.
		"the key store cannot be renamed in": func(path, src, _ string) error {
			if err := copyFile(src, path+restoringSuffix); err != nil {
				t.Fatal(err)
			}
			err := swapIn([]string{path, KeysPath(path)}, stamp)
			os.Remove(path + restoringSuffix)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			db, path := openTestDB(t)
			enrol(t, db, "s_1")
			src, keysSrc := filepath.Join(t.TempDir(), "node.db"), filepath.Join(t.TempDir(), KeysFile)
			if err := Backup(ctx, path, src); err != nil {
				t.Fatal(err)
			}
			if err := Backup(ctx, KeysPath(path), keysSrc); err != nil {
				t.Fatal(err)
			}
			enrol(t, db, "s_2")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			before := dirContents(t, filepath.Dir(path))

			if err := fail(path, src, keysSrc); err == nil {
				t.Fatal("the restore that should fail succeeded")
			}
			after := dirContents(t, filepath.Dir(path))
			for f, b := range before {
				if a, ok := after[f]; !ok || !bytes.Equal(a, b) {
					t.Errorf("the failed restore changed or removed %s", f)
				}
			}
			for f := range after {
				if _, ok := before[f]; !ok && f != filepath.Base(KeysPath(path)+restoringSuffix) {
					t.Errorf("the failed restore left %s behind", f)
				}
			}
			db2 := openAt(t, path)
			if _, err := db2.GetMeta(ctx, Restored); err == nil {
				t.Error("the database is marked Restored after a failed restore")
			}
		})
	}
}

// Two restores in the same second kept the replaced files under the same
// name: the second overwrote the first's kept database, the node's own
// from before both. Each restore now keeps under a stamp of its own.
func TestRestoresInTheSameSecondKeepEveryReplacedDatabase(t *testing.T) {
	ctx := context.Background()
	const stamp = "20300101T000000Z"
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	src := filepath.Join(t.TempDir(), "node.db")
	if err := Backup(ctx, path, src); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for range 2 {
		k, err := Restore(ctx, src, "", path, stamp, RestoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, k)
	}
	if kept[0] != stamp || kept[1] == stamp {
		t.Fatalf("restores kept under %q, want %q then another", kept, stamp)
	}
	got, err := os.ReadFile(beforeRestore(path, kept[0]))
	if err != nil || !bytes.Equal(got, original) {
		t.Fatalf("the first restore's kept database is not the node's original (%v)", err)
	}
	if _, err := os.Stat(beforeRestore(path, kept[1])); err != nil {
		t.Fatalf("the second restore kept nothing: %v", err)
	}
	if _, err := openAt(t, path).GetMeta(ctx, Restored); err != nil {
		t.Fatalf("restored database not marked Restored: %v", err)
	}
}

// dirContents reads every regular file in dir, by name (directories are
// listed with nil contents).
func dirContents(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = nil
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// assertDirUnchanged reports what in dir differs from before (read with
// dirContents): a file changed, added or taken away by what.
func assertDirUnchanged(t *testing.T, dir string, before map[string][]byte, what string) {
	t.Helper()
	after := dirContents(t, dir)
	for f, b := range before {
		if a, ok := after[f]; !ok || !bytes.Equal(a, b) {
			t.Errorf("%s changed or took away %s", what, f)
		}
	}
	for f := range after {
		if _, ok := before[f]; !ok {
			t.Errorf("%s left %s behind", what, f)
		}
	}
}

// A restored node numbers its new content keys from the restore's time:
// with the clock behind the database the backup lost, it made keys under
// ids that database had used, with other material. A restore while the
// clock reads before the backup was taken (its mark, or for a copy
// without one, its newest audit entry) is now refused, naming both
// times, before anything is replaced.
func TestRestoreRefusesWhileTheClockIsBehindTheBackup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	ahead := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	if err := db.AppendAudit(ctx, AuditEntry{Time: ahead, Actor: "system", Action: "key.promote", Detail: "{}"}); err != nil {
		t.Fatal(err)
	}
	marked := filepath.Join(t.TempDir(), "node.db")
	if err := Backup(ctx, path, marked); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	unmarked := filepath.Join(t.TempDir(), "node.db")
	if err := copyFile(marked, unmarked); err != nil {
		t.Fatal(err)
	}
	mustExec(t, rawDB(t, marked), `UPDATE meta SET value = '`+ahead.Format(time.RFC3339Nano)+`' WHERE key = '`+BackupTakenAt+`'`)
	mustExec(t, rawDB(t, unmarked), `DELETE FROM meta WHERE key = '`+BackupTakenAt+`'`)
	before := dirContents(t, filepath.Dir(path))
	for _, src := range []string{marked, unmarked} {
		if err := CheckRestore(ctx, src, "", path); !errors.Is(err, ErrClockBehindBackup) {
			t.Errorf("CheckRestore of %s: %v, want %v", src, err, ErrClockBehindBackup)
		}
		_, err := Restore(ctx, src, "", path, "test", RestoreOptions{})
		if !errors.Is(err, ErrClockBehindBackup) || !strings.Contains(err.Error(), "before "+src+" was taken ("+ahead.Format(time.RFC3339)+")") {
			t.Errorf("Restore of %s: %v, want %v naming the time it was taken", src, err, ErrClockBehindBackup)
		}
	}
	assertDirUnchanged(t, filepath.Dir(path), before, "the refused restore")
}

// TestRestoreUnpairingScannersRemovesEveryScannerOfTheCopy: a restore
// with UnpairScanners puts back a copy in which no scanner works (each
// disabled, its token gone) and whose meta names them for the node to
// audit; the backup records when it was taken and a summary of it names
// the scanner that was live in it.
func TestRestoreUnpairingScannersRemovesEveryScannerOfTheCopy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	if err := db.AddScanner(ctx, Scanner{ID: "sc_1", Name: "gate", Place: "checkpoint", Scope: "status", Created: t0},
		Token{Hash: []byte("scanner-hash"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "node.db")
	before := time.Now()
	if err := Backup(ctx, path, src); err != nil {
		t.Fatal(err)
	}
	s, err := SummariseBackup(ctx, src, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.TakenAt.Before(before.Add(-time.Second)) || s.TakenAt.After(time.Now()) || len(s.Scanners) != 1 || s.Scanners[0] != "sc_1" {
		t.Fatalf("summary %+v: want taken now, with scanner sc_1", s)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, src, "", path, "20300101T000000Z", RestoreOptions{UnpairScanners: true}); err != nil {
		t.Fatal(err)
	}
	restored := openAt(t, path)
	if sc, err := restored.Scanner(ctx, "sc_1"); err != nil || !sc.Disabled {
		t.Errorf("scanner after the restore = %+v, %v; want disabled", sc, err)
	}
	_, err = restored.Token(ctx, []byte("scanner-hash"))
	wantErr(t, err, ErrNotFound)
	if v, err := restored.GetMeta(ctx, UnpairedScanners); err != nil || v != `["sc_1"]` {
		t.Errorf("%s = %q, %v; want [\"sc_1\"]", UnpairedScanners, v, err)
	}
}

// TestRestoreRefusesABackupOfANewerBuildsDatabase: after an upgrade, the
// older binary put back and a backup taken since restored with it, the
// restore said "Restored. Start the node" and the node then refused the
// database ("schema version N is newer than this build's"). CheckRestore
// and Restore now refuse such a backup (ErrBackupNewer), replacing
// nothing; a backup of an older build's database restores (the next
// start migrates it).
func TestRestoreRefusesABackupOfANewerBuildsDatabase(t *testing.T) {
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, path := openTestDB(t)
	enrol(t, db, "s_1")
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	if err := Backup(ctx, path, newer); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, newer)
	mustExec(t, raw, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, 'of a newer build', 0)`, len(ms)+1))
	raw.Close()
	before := dirContents(t, filepath.Dir(path))

	if err := CheckRestore(ctx, newer, "", path); !errors.Is(err, ErrBackupNewer) {
		t.Fatalf("CheckRestore of a newer build's backup: %v, want %v", err, ErrBackupNewer)
	}
	if _, err := Restore(ctx, newer, "", path, "20300101T000000Z", RestoreOptions{}); !errors.Is(err, ErrBackupNewer) {
		t.Fatalf("Restore of a newer build's backup: %v, want %v", err, ErrBackupNewer)
	}
	assertDirUnchanged(t, filepath.Dir(path), before, "the refused restore")

	older := filepath.Join(dir, "older.db")
	raw = rawDBAtVersion(t, older, len(ms)-1)
	mustExec(t, raw, `INSERT INTO meta (key, value) VALUES ('province', '440000')`)
	raw.Close()
	if err := CheckRestore(ctx, older, "", path); err != nil {
		t.Fatalf("CheckRestore of an older build's backup: %v", err)
	}
}
