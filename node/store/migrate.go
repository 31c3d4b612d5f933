package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema, one file per version: 0001_init.sql,
// 0002_....sql. A released migration is never edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations, checking that their
// versions run 1, 2, 3... without gaps or duplicates.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var ms []migration // ReadDir sorts by name, and names start with the zero-padded version
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("store: migrations: %q out of sequence, want version %d", e.Name(), len(ms)+1)
		}
		body, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	return ms, nil
}

// beforeMigration are Go steps that run inside a migration's transaction,
// before its SQL, for what SQL alone cannot do. Each reports how many rows
// it moved.
var beforeMigration = map[string]func(ctx context.Context, tx *sql.Tx, keys *sql.DB) (int, error){
	"0004_subject_keys_apart.sql": moveSubjectKeys,
	"0012_lookup_case_tag.sql":    blankLookupCases,
}

// blankLookupCases empties the clear case ids of the lookups kept so far
// (see 0012_lookup_case_tag.sql) and reports how many, so that migrate
// rewrites the files without their old bytes.
func blankLookupCases(ctx context.Context, tx *sql.Tx, _ *sql.DB) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE lookups SET case_id = '' WHERE case_id != ''`)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// migrate applies every migration the database has not seen yet, each in
// its own transaction together with its schema_migrations row, so that a
// crash leaves the schema at a whole version. It refuses a database written
// by a newer build. keys is the key store, for the migration that moves
// data keys into it. It returns the schema version it found and the one
// it left.
func migrate(ctx context.Context, w, keys *sql.DB) (from, to int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, err
	}
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name    TEXT NOT NULL,
		applied INTEGER NOT NULL
	) STRICT`); err != nil {
		return 0, 0, wrap("migrate", err)
	}
	var newest int
	if err := w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return 0, 0, wrap("migrate", err)
	}
	if err := newerSchema(newest, len(ms)); err != nil {
		return newest, newest, err
	}
	moved := 0
	for _, m := range ms[newest:] {
		n, err := applyMigration(ctx, w, keys, m)
		if err != nil {
			return newest, m.version - 1, err
		}
		moved += n
	}
	if moved > 0 {
		// The moved keys' (or blanked case ids') old copies are in free
		// pages and in the WAL.
		if err := purgeFreePages(ctx, w); err != nil {
			return newest, len(ms), wrap("migrate", err)
		}
	}
	return newest, len(ms), nil
}

// purgeFreePages rewrites the database without its free pages and empties
// the WAL, so that what a migration removed is gone from the files.
func purgeFreePages(ctx context.Context, w *sql.DB) error {
	if _, err := w.ExecContext(ctx, `VACUUM`); err != nil {
		return err
	}
	_, err := w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// applyMigration runs one migration unless another process applied it
// first (the check runs under the write lock BEGIN IMMEDIATE took).
func applyMigration(ctx context.Context, w, keys *sql.DB, m migration) (int, error) {
	op := "migrate " + m.name
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&done); err != nil {
		return 0, wrap(op, err)
	}
	if done > 0 {
		return 0, nil
	}
	moved := 0
	if before := beforeMigration[m.name]; before != nil {
		if moved, err = before(ctx, tx, keys); err != nil {
			return 0, wrap(op, err)
		}
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return 0, wrap(op, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return 0, wrap(op, err)
	}
	return moved, wrap(op, tx.Commit())
}
