package main

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// schemaVersion is the newest migration recorded in the node.db at path.
func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOfflineReadsLeaveADatabaseOfAnOlderBuildAsItIs: with the new binary
// installed and the node stopped, 'hcnode verify --config' and 'hcnode
// audit verify' on a database an older build wrote migrated it in
// passing, so the older build refused it from then on ("schema version N
// is newer than this build's"); so did 'hcnode init' refusing the node
// already there. The reads now refuse it, changing nothing, and say how
// to upgrade; init refuses without migrating; once serve has migrated
// it, the reads read it.
func TestOfflineReadsLeaveADatabaseOfAnOlderBuildAsItIs(t *testing.T) {
	dir, cfgPath := initCheckNode(t)
	dbPath := filepath.Join(dir, "node.db")
	newest := schemaVersion(t, dbPath)
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	// An older build's database, as far as the migrator sees: its newest
	// migration not recorded (TestCheckRefusesADatabaseOfANewerBuild).
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = ?`, newest); err != nil {
		t.Fatal(err)
	}
	db.Close() // no -wal left behind
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"verify", "--config", cfgPath, "HCF1:x"},
		{"audit", "verify", "--config", cfgPath},
	} {
		out, err := run(t, args...)
		if !errors.Is(err, errSchemaBehind) {
			t.Fatalf("%s on a database one migration behind: %v, want %v\n%s", args[0], err, errSchemaBehind, out)
		}
		for _, want := range []string{"1 migration behind", "changed nothing", "hcnode backup", "hcnode serve"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", args[0], err, want)
			}
		}
		if got := schemaVersion(t, dbPath); got != newest-1 {
			t.Fatalf("after %s the schema is at %d, want still %d", args[0], got, newest-1)
		}
		after, err := os.ReadFile(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		if string(after) != string(before) {
			t.Fatalf("%s changed node.db", args[0])
		}
	}

	// init, refusing the node already there, read it without a write too.
	if out, err := run(t, "init", "--province", "440000", "--name", "Guangdong", "--data", dir,
		"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "already holds a node") {
		t.Fatalf("init on a node's data directory: %v, want refused\n%s", err, out)
	}
	if got := schemaVersion(t, dbPath); got != newest-1 {
		t.Fatalf("after init the schema is at %d, want still %d", got, newest-1)
	}

	// Migrated as serve does, by a command that writes (the row restored
	// stands for the migration applied).
	db, err = sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, 'restored', 0)`, newest); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out, err := run(t, "audit", "verify", "--config", cfgPath); err != nil || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify on a current database: %v\n%s", err, out)
	}
}
