package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestOpenAppliesMigrationsAndReopenIsNoOp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); got != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", got, len(ms))
	}
	for _, table := range []string{"meta", "keys", "subjects", "consents", "codes", "revocations", "tokens", "scanners", "audit", "statements"} {
		if count(t, db, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table) != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	var applied int64
	if err := db.r.QueryRow(`SELECT applied FROM schema_migrations WHERE version = 1`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if err := db.SetMeta(ctx, "province", "440000"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openAt(t, path)
	if got := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); got != len(ms) {
		t.Fatalf("after reopen schema_migrations has %d rows, want %d", got, len(ms))
	}
	var again int64
	if err := db.r.QueryRow(`SELECT applied FROM schema_migrations WHERE version = 1`).Scan(&again); err != nil {
		t.Fatal(err)
	}
	if again != applied {
		t.Errorf("migration 1 re-applied on reopen")
	}
	if v, err := db.GetMeta(ctx, "province"); err != nil || v != "440000" {
		t.Errorf("meta after reopen = %q, %v", v, err)
	}
}

func TestOpenSetsWALAndPragmasOnEveryConnection(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	pragma := func(pool string, name string) string {
		t.Helper()
		p := db.w
		if pool == "read" {
			p = db.r
		}
		var v string
		if err := p.QueryRow(`PRAGMA ` + name).Scan(&v); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", pool, name, err)
		}
		return v
	}
	for _, pool := range []string{"write", "read"} {
		if got := pragma(pool, "journal_mode"); got != "wal" {
			t.Errorf("%s journal_mode = %q, want wal", pool, got)
		}
		if got := pragma(pool, "synchronous"); got != "2" {
			t.Errorf("%s synchronous = %q, want 2 (FULL)", pool, got)
		}
		if got := pragma(pool, "foreign_keys"); got != "1" {
			t.Errorf("%s foreign_keys = %q, want 1", pool, got)
		}
		if got := pragma(pool, "busy_timeout"); got != "10000" {
			t.Errorf("%s busy_timeout = %q, want 10000", pool, got)
		}
	}
	if got := pragma("read", "query_only"); got != "1" {
		t.Errorf("read pool query_only = %q, want 1", got)
	}
	if _, err := db.r.Exec(`INSERT INTO meta (key, value) VALUES ('x', 'y')`); err == nil {
		t.Error("read pool accepted a write")
	}
}

func TestOpenRefusesSchemaFromNewerBuild(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	db.Close()
	mustExec(t, rawDB(t, path), `INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`)
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: err = %v, want refusal", err)
	}
}

func TestOpenRejectsPathWithQuery(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), t.TempDir()+"/x.db?mode=ro")
	wantErr(t, err, ErrInvalid)
}

func TestMetaRoundTripAndReservedKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	_, err := db.GetMeta(ctx, "province")
	wantErr(t, err, ErrNotFound)
	for _, v := range []string{"440000", "310000"} {
		if err := db.SetMeta(ctx, "province", v); err != nil {
			t.Fatal(err)
		}
		if got, err := db.GetMeta(ctx, "province"); err != nil || got != v {
			t.Fatalf("GetMeta = %q, %v; want %q", got, err, v)
		}
	}
	wantErr(t, db.SetMeta(ctx, auditHeadKey, "0:00"), ErrInvalid)
}

func TestMetaOnceKeepsTheFirstValue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, v := range []string{"first", "second"} {
		if got, err := db.MetaOnce(ctx, "auth.token_check_key", v); err != nil || got != "first" {
			t.Fatalf("MetaOnce(%q) = %q, %v; want the first value kept", v, got, err)
		}
	}
	_, err := db.MetaOnce(ctx, auditHeadKey, "0:00")
	wantErr(t, err, ErrInvalid)
	_, err = db.MetaOnce(ctx, "x", "")
	wantErr(t, err, ErrInvalid)
}

// The node's dated secrets are listed by prefix and shredded by name; a
// reserved key is neither.
func TestMetaKeysWithPrefixAndShredMeta(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, k := range []string{"lookup.basis_key.2026-12-01", "lookup.basis_key.2026-12-02", "lookup.basis_keyx", "province"} {
		if err := db.SetMeta(ctx, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.MetaKeysWithPrefix(ctx, "lookup.basis_key.")
	if err != nil || strings.Join(got, ",") != "lookup.basis_key.2026-12-01,lookup.basis_key.2026-12-02" {
		t.Fatalf("MetaKeysWithPrefix = %v, %v", got, err)
	}
	if n, err := db.ShredMeta(ctx, got[:1]); err != nil || n != 1 {
		t.Fatalf("ShredMeta = %d, %v; want 1", n, err)
	}
	if got, err := db.MetaKeysWithPrefix(ctx, "lookup.basis_key."); err != nil || len(got) != 1 || got[0] != "lookup.basis_key.2026-12-02" {
		t.Fatalf("after ShredMeta: %v, %v", got, err)
	}
	_, err = db.ShredMeta(ctx, []string{auditHeadKey})
	wantErr(t, err, ErrInvalid)
	_, err = db.MetaKeysWithPrefix(ctx, "")
	wantErr(t, err, ErrInvalid)
}

func TestKeysLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	older := KeyRow{KID: "k-old", Kind: "sign", State: "active", NotBefore: t0, Expires: t0.Add(14 * 24 * time.Hour),
		Public: []byte(`{"kty":"EC"}`), Sealed: []byte("sealed-1"), Created: t0}
	newer := older
	newer.KID, newer.State, newer.Created, newer.Sealed = "k-new", "next", t0.Add(time.Hour), []byte("sealed-2")
	content := KeyRow{KID: "440000/20250301", Kind: "content", State: "active", NotBefore: t0, Expires: t0.Add(48 * time.Hour),
		Sealed: []byte("sealed-3"), Created: t0}
	for _, k := range []KeyRow{newer, older, content} {
		if err := db.InsertKey(ctx, k); err != nil {
			t.Fatalf("InsertKey %s: %v", k.KID, err)
		}
	}
	wantErr(t, db.InsertKey(ctx, older), ErrConflict)
	wantErr(t, db.InsertKey(ctx, KeyRow{KID: "x", Kind: "weird", State: "active"}), ErrInvalid)

	ks, err := db.Keys(ctx, "sign")
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].KID != "k-old" || ks[1].KID != "k-new" {
		t.Fatalf("Keys(sign) = %+v, want k-old then k-new", ks)
	}
	if !ks[0].Expires.Equal(older.Expires) || string(ks[0].Sealed) != "sealed-1" || !ks[0].RetiredAt.IsZero() {
		t.Errorf("key did not round trip: %+v", ks[0])
	}

	retired, expires := t0.Add(7*24*time.Hour), t0.Add(8*24*time.Hour)
	if err := db.UpdateKey(ctx, "k-old", "retired", retired, expires); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.UpdateKey(ctx, "nope", "retired", retired, expires), ErrNotFound)
	ks, _ = db.Keys(ctx, "sign")
	if ks[0].State != "retired" || !ks[0].RetiredAt.Equal(retired) || !ks[0].Expires.Equal(expires) {
		t.Errorf("UpdateKey not applied: %+v", ks[0])
	}

	if err := db.DeleteKey(ctx, "k-old"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteKey(ctx, "k-old"), ErrNotFound)
	if ks, _ := db.Keys(ctx, "sign"); len(ks) != 1 {
		t.Errorf("after delete, %d sign keys, want 1", len(ks))
	}
	if ks, _ := db.Keys(ctx, "content"); len(ks) != 1 || ks[0].Public != nil {
		t.Errorf("content keys = %+v", ks)
	}
}

// TestOpenSaysWhatItMigrated: the first open by a newer build of a
// database an older one wrote reports the versions it found and left
// (serve logs them); a reopen migrates nothing, and a new database is
// made from 0.
func TestOpenSaysWhatItMigrated(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/node.db"
	rawDBAtVersion(t, path, 17).Close() // as round 15's build left it
	db := openAt(t, path)
	if from, to := db.Migrated(); from != 17 || to != len(ms) {
		t.Errorf("first open of a database at 17: migrated from %d to %d, want 17 to %d", from, to, len(ms))
	}
	db.Close()
	db = openAt(t, path)
	if from, to := db.Migrated(); from != len(ms) || to != len(ms) {
		t.Errorf("reopen: migrated from %d to %d, want %d to %d", from, to, len(ms), len(ms))
	}
	fresh, _ := openTestDB(t)
	if from, to := fresh.Migrated(); from != 0 || to != len(ms) {
		t.Errorf("a new database: migrated from %d to %d, want 0 to %d", from, to, len(ms))
	}
}
