package store

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A database copied from the schema template is what the migrations make
// of a new database: the same schema, every migration recorded, WAL mode,
// mode 0600, and no row but schema_migrations' (nothing of a node).
func TestSchemaTemplateCopyIsTheMigratedSchemaAndNothingElse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tpl := &templateState{dir: t.TempDir()}
	path := filepath.Join(t.TempDir(), "node.db")
	if err := tpl.copyTo(ctx, path, KeysPath(path)); err != nil {
		t.Fatal(err)
	}
	if tpl.db == nil {
		t.Fatal("no template was made")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != fileMode {
		t.Fatalf("copied database: %v, %v; want mode %v", fi, err, fileMode)
	}
	copied := openAt(t, path)
	migrated, _ := openTestDB(t)

	schema := func(db *DB) []string {
		t.Helper()
		rows, err := queryAll(ctx, db.r, "schema", func(r rowScanner) (string, error) {
			var typ, name, sql string
			err := r.Scan(&typ, &name, &sql)
			return typ + " " + name + ": " + sql, err
		}, `SELECT type, name, COALESCE(sql, '') FROM main.sqlite_schema ORDER BY type, name`)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if got, want := schema(copied), schema(migrated); !slices.Equal(got, want) {
		t.Fatalf("the copy's schema differs from a migrated database's:\n%q\nwant\n%q", got, want)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, copied, `SELECT COUNT(*) FROM schema_migrations`); got != len(ms) {
		t.Fatalf("the copy records %d migrations, want %d", got, len(ms))
	}
	var mode string
	if err := copied.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("the copy's journal mode = %q, %v; want wal", mode, err)
	}
	tables, err := queryAll(ctx, copied.r, "tables", func(r rowScanner) (string, error) {
		var name string
		return name, r.Scan(&name)
	}, `SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil || len(tables) < 10 {
		t.Fatalf("the copy's tables: %q, %v", tables, err)
	}
	for _, table := range tables {
		if table == "schema_migrations" {
			continue
		}
		if n := count(t, copied, `SELECT COUNT(*) FROM "`+table+`"`); n != 0 {
			t.Errorf("the template's table %s holds %d rows, want none", table, n)
		}
	}
}

// The template is copied only in place of a new database: never over an
// existing one, nor beside an existing key store.
func TestSchemaTemplateLeavesExistingFilesAlone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tpl := &templateState{dir: t.TempDir()}
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("not a template"), fileMode); err != nil {
		t.Fatal(err)
	}
	lone := filepath.Join(dir, "lone.db")
	if err := os.WriteFile(KeysPath(lone), nil, fileMode); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{existing, lone} {
		if err := tpl.copyTo(ctx, p, KeysPath(p)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(existing); err != nil || !bytes.Equal(b, []byte("not a template")) {
		t.Errorf("an existing database after copyTo: %q, %v", b, err)
	}
	if exists(lone) {
		t.Error("the template was copied beside an existing key store")
	}
	if tpl.db != nil {
		t.Error("a template was made though nothing needed one")
	}
	off := &templateState{}
	fresh := filepath.Join(dir, "fresh.db")
	if err := off.copyTo(ctx, fresh, KeysPath(fresh)); err != nil || exists(fresh) {
		t.Errorf("with the template off, copyTo made %s: %v", fresh, err)
	}
}
