package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// t0 is the tests' "now".
var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// openTestDB opens a fresh database file in a temp dir, closed at cleanup.
func openTestDB(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.db")
	return openAt(t, path), path
}

// openAt opens the database at path, closed at cleanup.
func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawDB opens the file behind the store's back, as an attacker with access
// to the disk (or a test inspecting it) would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	return raw
}

// rawDBAtVersion makes a database at path as the first version
// migrations left it (their SQL only, not their Go steps) and opens it
// with rawDB, for a test of the migrations after.
func rawDBAtVersion(t testing.TB, path string, version int) *sql.DB {
	t.Helper()
	raw := rawDB(t, path)
	mustExec(t, raw, `PRAGMA journal_mode=WAL`,
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:version] {
		mustExec(t, raw, m.sql, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, m.version, m.name))
	}
	return raw
}

// mustExec runs statements on db, failing the test on error.
func mustExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// count runs a COUNT(*) query on the store's read pool.
func count(t testing.TB, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.r.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// testSubject is a subject with fake ciphertext.
func testSubject(id string) Subject {
	return Subject{
		ID:          id,
		DataKey:     []byte("sealed-data-key-" + id),
		NameCT:      []byte("ct-name"),
		IDNumberCT:  []byte("ct-id"),
		MaskedCT:    []byte("ct-masked"),
		Status:      "green",
		StatusSince: t0.Add(-time.Hour),
		Created:     t0.Add(-time.Hour),
		RetainUntil: t0.Add(30 * 24 * time.Hour),
	}
}

func testConsent() Consent {
	return Consent{NoticeVersion: "2025-01", AcceptedAt: t0.Add(-time.Hour), Fields: []string{"name", "id_number"}, Purpose: "health code"}
}

// enrol creates a subject with consent and no token.
func enrol(t testing.TB, db *DB, id string) {
	t.Helper()
	if err := db.CreateSubject(context.Background(), testSubject(id), testConsent(), Token{}); err != nil {
		t.Fatalf("CreateSubject: %v", err)
	}
}

// testCode is a 24 h code issued at t0 unless changed.
func testCode(jti, subject string) Code {
	return Code{JTI: jti, SubjectID: subject, KID: "kid-1", Status: "green", IssuedAt: t0, Expires: t0.Add(24 * time.Hour)}
}

func insertCode(t testing.TB, db *DB, c Code) {
	t.Helper()
	if err := db.InsertCode(context.Background(), c); err != nil {
		t.Fatalf("InsertCode: %v", err)
	}
}

// waitFor polls cond until it holds or 10 s pass: a condition wait,
// not a sleep.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, time.Millisecond, what, testkit.Holds(cond))
}

// fanOut runs fn(w, i) for i in [0, each) in each of workers goroutines,
// failing the test on the first error of each worker.
func fanOut(t *testing.T, workers, each int, fn func(w, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := fn(w, i); err != nil {
					t.Errorf("worker %d call %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func jti(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }
