package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A backup file cut short (a copy interrupted, a full disk on the backup
// host) or with a page overwritten still opened and named its province,
// so restore put it in place of the node's good database, and the node
// found the damage only at a read of the lost pages, while serving.
// CheckBackup now reads every page (quick_check) and refuses a damaged
// copy as ErrBackupDamaged; Restore checks its staged copy the same way.
func TestDamagedBackupIsRefusedBeforeItReplacesAnything(t *testing.T) {
	ctx := context.Background()
	db, path := openTestDB(t)
	if err := db.SetMeta(ctx, "province", "440000"); err != nil {
		t.Fatal(err)
	}
	enrol(t, db, "s_1")
	// Pages to damage in the middle of the file, in one statement.
	if _, err := rawDB(t, path).ExecContext(ctx, `CREATE TABLE filler AS WITH RECURSIVE n(i) AS
		(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i, randomblob(100) AS b FROM n`); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "node.db")
	if err := Backup(ctx, path, good); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CheckBackup(ctx, good); err != nil {
		t.Fatalf("the good backup is refused: %v", err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 16*4096 {
		t.Fatalf("the backup is %d bytes: too small to damage in its middle", len(data))
	}
	page := 4096
	for name, damage := range map[string]func([]byte) []byte{
		"cut short": func(b []byte) []byte { return b[:len(b)/2/page*page] },
		"a page overwritten": func(b []byte) []byte {
			b = bytes.Clone(b)
			at := len(b) / 2 / page * page
			copy(b[at:at+page], bytes.Repeat([]byte{0x5a}, page))
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "node.db")
			if err := os.WriteFile(bad, damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := CheckBackup(ctx, bad); !errors.Is(err, ErrBackupDamaged) {
				t.Errorf("CheckBackup of a backup %s: %v, want ErrBackupDamaged", name, err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Restore(ctx, bad, "", path, "20300101T000000Z", RestoreOptions{}); !errors.Is(err, ErrBackupDamaged) {
				t.Errorf("Restore of a backup %s: %v, want ErrBackupDamaged", name, err)
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
				t.Errorf("the refused restore changed the node's database (%v)", err)
			}
		})
	}
}
