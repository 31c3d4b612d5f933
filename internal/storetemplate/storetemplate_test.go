package storetemplate_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/hcfed/hcfed/internal/storetemplate"
	"github.com/hcfed/hcfed/node/store"
)

func TestMain(m *testing.M) { storetemplate.Main(m) }

// Under Main, new databases are copies of one template: every migration
// row of two of them was written at the same instant, the template's.
// Without it each database applies its own migrations, at its own time.
func TestNewDatabasesAreCopiesOfOneTemplate(t *testing.T) {
	applied := func() []int64 {
		t.Helper()
		path := filepath.Join(t.TempDir(), "node.db")
		db, err := store.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		rows, err := raw.Query(`SELECT applied FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var a int64
			if err := rows.Scan(&a); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		if err := rows.Err(); err != nil || len(out) == 0 {
			t.Fatalf("schema_migrations: %d rows, %v", len(out), err)
		}
		return out
	}
	a, b := applied(), applied()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("migration %d applied at %d and at %d: the second database was migrated, not copied", i+1, a[i], b[i])
		}
	}
}
