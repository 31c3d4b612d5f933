package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/store"
)

// A backup was restored whatever had been done to it since it was taken:
// whoever could write where backups are kept could add a scanner or a
// token, or set statuses, and a restore put that in place; and a backup
// of another node of the same province was put in place, to fail at the
// next start on keys its KEK does not open. backup now seals each copy
// with the KEK (FILE.seal), and restore refuses a copy that does not
// match its seal, one sealed by another KEK, and, without
// --accept-unsealed, one with no seal. The seals bind a backup's copies
// together: a node.db and a keys.db of two backups are refused
// (backup_mismatched_pair), and the plan says which backup it puts back
// and when it was taken, as its seal says.
func TestRestoreRefusesABackupChangedSinceOrOfAnotherNode(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	_, otherCfg := initCheckNode(t) // province 440000 too: another node, another KEK
	tmp := t.TempDir()
	bk, keys := filepath.Join(tmp, "bk"), filepath.Join(tmp, "keys")
	out, err := run(t, "backup", "--config", cfgPath, "--out", bk, "--keys-out", keys)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	sealed := regexp.MustCompile(`as backup ([0-9a-f]{32}), taken at (\S+):`).FindStringSubmatch(out)
	if sealed == nil {
		t.Fatalf("backup does not say which backup it sealed, and when:\n%s", out)
	}
	bk2, keys2 := filepath.Join(tmp, "bk2"), filepath.Join(tmp, "keys2")
	if out, err := run(t, "backup", "--config", cfgPath, "--out", bk2, "--keys-out", keys2); err != nil {
		t.Fatalf("second backup: %v\n%s", err, out)
	}
	for _, f := range []string{filepath.Join(bk, "node.db"), filepath.Join(keys, store.KeysFile)} {
		if _, err := os.Stat(f + store.BackupSealSuffix); err != nil {
			t.Fatalf("backup left no seal beside %s: %v", f, err)
		}
	}
	nodeDB := filepath.Join(dir, "node.db")
	before, err := os.ReadFile(nodeDB)
	if err != nil {
		t.Fatal(err)
	}
	// copyBackup copies bk into a new directory, changed by alter.
	copyBackup := func(name string, alter func(dir string)) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"node.db", "node.db" + store.BackupSealSuffix} {
			b, err := os.ReadFile(filepath.Join(bk, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		alter(d)
		return d
	}
	changed := copyBackup("changed", func(d string) {
		db, err := sql.Open("sqlite", filepath.Join(d, "node.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`INSERT INTO meta (key, value) VALUES ('slipped_in', 'x')`); err != nil {
			t.Fatal(err)
		}
	})
	unsealed := copyBackup("unsealed", func(d string) {
		if err := os.Remove(filepath.Join(d, "node.db"+store.BackupSealSuffix)); err != nil {
			t.Fatal(err)
		}
	})

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"changed since", []string{"--config", cfgPath, "--from", changed}, "backup_seal_mismatch: it was changed since this node sealed it"},
		{"of another node", []string{"--config", otherCfg, "--from", bk}, "backup_seal_mismatch: its seal does not open with this node's KEK"},
		{"key store of another node", []string{"--config", otherCfg, "--from", unsealed, "--accept-unsealed", "--keys-from", keys},
			"backup_seal_mismatch: its seal does not open with this node's KEK"},
		{"with no seal", []string{"--config", cfgPath, "--from", unsealed}, "backup_unsealed"},
		{"with another backup's key store", []string{"--config", cfgPath, "--from", bk, "--keys-from", keys2},
			"backup_mismatched_pair: they are not of one backup (node.db is of backup " + sealed[1]},
	} {
		for _, yes := range []bool{false, true} {
			args := append([]string{"restore"}, c.args...)
			if yes {
				args = append(args, "--yes")
			}
			out, err := run(t, args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("restore of a backup %s (yes %v): %v\n%s\nwant a refusal naming %q", c.name, yes, err, out, c.want)
			}
			if after, err := os.ReadFile(nodeDB); err != nil || !bytes.Equal(before, after) {
				t.Fatalf("the refused restore of a backup %s changed node.db (%v)", c.name, err)
			}
		}
	}

	// The plan says which backup, and when it was taken.
	out, err = run(t, "restore", "--config", cfgPath, "--from", bk, "--keys-from", keys)
	if want := "backup " + sealed[1] + ", taken at " + sealed[2]; err != nil || !strings.Contains(out, want) ||
		!strings.Contains(out, "the database and key store copies are of that one backup") {
		t.Errorf("dry run of a sealed backup: %v\n%s\nwant it to say %q, and that its copies are of one backup", err, out, want)
	}
	// An unsealed copy is the operator's call, said in the plan.
	out, err = run(t, "restore", "--config", cfgPath, "--from", unsealed, "--accept-unsealed")
	if err != nil || !strings.Contains(out, "WARNING: "+filepath.Join(unsealed, "node.db")+" has no seal") {
		t.Errorf("dry run of an unsealed backup accepted: %v\n%s", err, out)
	}
	// The copy as sealed is restored, with its key store.
	if out, err := run(t, "restore", "--config", cfgPath, "--from", bk, "--keys-from", keys, "--yes"); err != nil || !strings.Contains(out, "Restored.") {
		t.Fatalf("restore of the sealed backup: %v\n%s", err, out)
	}
}
