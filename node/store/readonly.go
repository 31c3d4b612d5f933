package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// OpenReadOnly opens the database at path for reading only, for a
// preflight ('hcnode check') beside a node that may or may not be
// running: it creates no file, changes no file's mode, applies no
// migration and takes no write lock; any write through it fails. The key
// store (keys.db) is not opened.
//
// With no -wal file beside the database (no node has it open, and the
// last one closed cleanly) it is opened immutable, so that SQLite creates
// no -wal or -shm file either. With one, the WAL may hold committed
// transactions, so it is read as a node reads it: after a crash that left
// a -wal, SQLite rebuilds the -shm index beside it (creating it if it is
// missing, owned by whoever runs the check), as the node's next start
// would. A node that starts in
// the middle of an immutable read may make that read see a torn file:
// run the check again.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("store: open: path must be a file name without '?': %w", ErrInvalid)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	pool, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if pool, err = sizePool(ctx, pool, 1); err != nil {
		return nil, err
	}
	// One pool serves as writer, reader and key store: Close closes it
	// once, and a write through it is refused by SQLite.
	db := &DB{w: pool, r: pool, k: pool, issue: newIssueCache(0)}
	db.batch = newBatcher(pool, &db.prepared)
	return db, nil
}

// readOnlyDSN is the connection string of a read-only open of the SQLite
// file at path, as OpenReadOnly describes: immutable when no -wal file is
// beside it, and refusing every write.
func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	if _, err := os.Stat(path + "-wal"); errors.Is(err, os.ErrNotExist) {
		q.Set("immutable", "1")
	}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "query_only(1)")
	return (&url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}).String()
}

// Schema compares the database's schema with this build's: how many
// migrations the next Open would apply, or the error Open returns for a
// database written by a newer build.
func (db *DB) Schema(ctx context.Context) (pending int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, err
	}
	var newest int
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return 0, wrap("schema", err)
	}
	if err := newerSchema(newest, len(ms)); err != nil {
		return 0, err
	}
	return len(ms) - newest, nil
}

// newerSchema is the refusal of a database whose schema version have is
// newer than this build's want: this build would misread it.
func newerSchema(have, want int) error {
	if have > want {
		return fmt.Errorf("store: migrate: database schema version %d is newer than this build's %d: "+
			"this build would misread it; start the node with the hcnode release that wrote it, or a later one", have, want)
	}
	return nil
}

// maxQuickCheckProblems bounds how many of quick_check's findings
// QuickCheck reports.
const maxQuickCheckProblems = 5

// QuickCheck runs SQLite's quick_check over the database (every page and
// index is well formed, though not that indexes match their tables) and
// returns an error naming what it found, if anything. It reads the whole
// file: bound it with ctx.
func (db *DB) QuickCheck(ctx context.Context) error {
	return quickCheck(ctx, db.r, "the database")
}

// quickCheck runs quick_check on q's database, named what in the error.
func quickCheck(ctx context.Context, q querier, what string) error {
	var problems []string
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`PRAGMA quick_check(%d)`, maxQuickCheckProblems))
	if err == nil {
		for rows.Next() {
			var s string
			if err = rows.Scan(&s); err != nil {
				break
			}
			problems = append(problems, s)
		}
		err = errors.Join(err, rows.Err(), rows.Close())
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("store: quick check: %w", err)
	case err != nil:
		// A page too damaged to walk stops quick_check itself.
		return fmt.Errorf("store: quick_check found %s damaged: %w", what, err)
	case len(problems) == 1 && problems[0] == "ok":
		return nil
	}
	return fmt.Errorf("store: quick_check found %s damaged: %s", what, strings.Join(problems, "; "))
}
