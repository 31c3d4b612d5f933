package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Connection settings, in one place.
const (
	// busyTimeout is how long a connection waits for another process (the
	// hcnode CLI next to a running server, say) to release a lock.
	busyTimeout = 10 * time.Second
	// minReaders is the smallest read pool; it grows with GOMAXPROCS.
	minReaders = 4
)

// DB is the node's SQLite database. It is safe for concurrent use.
type DB struct {
	w     *sql.DB  // exactly one connection: every write goes through it
	r     *sql.DB  // read-only pool, keys.db attached read-only as "keys" (readpool.go)
	k     *sql.DB  // the key store (keys.db): one connection, writes and the WAL's truncation
	batch *batcher // group commit for InsertCode and AppendAudit
	issue *issueCache
	// keysGate keeps the read pool off keys.db while its WAL is truncated
	// (keysgate.go).
	keysGate keysGate
	// keysWALPending is set while keys.db's WAL may hold frames of a
	// shredded key (truncateKeysWAL).
	keysWALPending atomic.Bool
	// keysTruncations counts the truncations of keys.db's WAL
	// (KeysTruncations).
	keysTruncations atomic.Int64

	prepared prepared // hot-path reads, prepared once

	// migratedFrom and migratedTo are the schema versions Open found and
	// left (Migrated).
	migratedFrom, migratedTo int

	// beforeDeletionTx, if not nil, is called before each transaction of
	// a DeleteSubjects batch begins, with the first subject it will try:
	// a test's way to change what the deletions will find. Nil outside
	// tests.
	beforeDeletionTx func(first string)
	// beforeDeletion, if not nil, is called with each subject of a
	// DeleteSubjects batch in its transaction, before its deletion
	// begins; it must not write to the database (the transaction holds
	// its one writer). Nil outside tests.
	beforeDeletion func(id string)
	// deletionCommitFault, if not nil, is an error a transaction of
	// DeleteSubjects fails with once the key store has committed, instead
	// of committing node.db: a test's way to make node.db fail after
	// keys.db. Nil outside tests.
	deletionCommitFault error
	// deletionsPerTx and deletionTxWork bound one transaction of
	// DeleteSubjects: the constants of those names, but for tests.
	deletionsPerTx int
	deletionTxWork time.Duration
	// checkpointFault, if not nil, is an error checkpointKeys fails
	// with: a test's way to make emptying keys.db's WAL fail. Nil
	// outside tests.
	checkpointFault error

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database file at path, in WAL mode,
// with its key store KeysPath(path), and applies pending migrations in
// order.
//
// Writes are serialized on a single connection (BEGIN IMMEDIATE), so
// concurrent writers queue in Go instead of failing with SQLITE_BUSY;
// reads run on a pool of query_only connections. Every connection runs with
// synchronous=FULL: a committed status change, revocation or issued code
// survives a power cut, not just a crash of the process.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWithKeys(ctx, path, KeysPath(path))
}

// OpenWithKeys is Open with the key store at keysPath. It is for
// inspecting a copy of a database against a given key store, as a test of
// crypto-shredding does; a node always runs with Open.
func OpenWithKeys(ctx context.Context, path, keysPath string) (*DB, error) {
	if path == "" || strings.Contains(path, "?") || keysPath == "" || strings.Contains(keysPath, "?") {
		return nil, fmt.Errorf("store: open: path must be a file name without '?': %w", ErrInvalid)
	}
	if err := fromSchemaTemplate(ctx, path, keysPath); err != nil {
		return nil, err
	}
	return openDB(ctx, path, keysPath)
}

// openDB is OpenWithKeys once the paths are checked.
func openDB(ctx context.Context, path, keysPath string) (*DB, error) {
	if err := KeyStoreNotLost(ctx, path, keysPath); err != nil {
		return nil, err
	}
	if err := restrictFiles(path, keysPath); err != nil {
		return nil, err
	}
	k, err := openKeys(ctx, keysPath)
	if err != nil {
		return nil, err
	}
	w, err := openPool(ctx, path, false, 1)
	if err != nil {
		k.Close()
		return nil, err
	}
	from, to, err := migrate(ctx, w, k)
	if err != nil {
		w.Close()
		k.Close()
		return nil, err
	}
	r, err := openReadPool(ctx, path, keysPath, max(minReaders, runtime.GOMAXPROCS(0)))
	if err != nil {
		w.Close()
		k.Close()
		return nil, err
	}
	db := &DB{w: w, r: r, k: k, issue: newIssueCache(DefaultIssueCacheEntries), migratedFrom: from, migratedTo: to,
		deletionsPerTx: deletionsPerTx, deletionTxWork: deletionTxWork}
	db.batch = newBatcher(w, &db.prepared)
	return db, nil
}

// Migrated is the schema version Open found and the one it left: equal
// unless Open migrated the database, as the first start of a newer build
// does (and as a new database is made: from 0).
func (db *DB) Migrated() (from, to int) { return db.migratedFrom, db.migratedTo }

// openPool opens one connection pool on path and checks that a connection
// can be made with its pragmas.
func openPool(ctx context.Context, path string, readOnly bool, conns int) (*sql.DB, error) {
	pool, err := sql.Open("sqlite", dsn(path, readOnly))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return sizePool(ctx, pool, conns)
}

// sizePool gives pool conns long-lived connections and checks that one
// can be made.
func sizePool(ctx context.Context, pool *sql.DB, conns int) (*sql.DB, error) {
	keepConns(pool, conns)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return pool, nil
}

// keepConns gives pool conns connections, kept open for its life.
func keepConns(pool *sql.DB, conns int) {
	pool.SetMaxOpenConns(conns)
	pool.SetMaxIdleConns(conns)
	pool.SetConnMaxLifetime(0)
	pool.SetConnMaxIdleTime(0)
}

// dsn builds the driver's connection string. The pragmas are DSN
// parameters, not statements run after Open, because modernc.org/sqlite
// applies them to every connection the pool opens, including ones opened
// later to replace a broken one.
func dsn(path string, readOnly bool, pragmas ...string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		// Take the write lock at BEGIN, so a transaction that reads then
		// writes (next seq, audit head) never has to upgrade its lock.
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Close flushes pending writes and closes the database.
//
// Group-committed calls already queued are committed first; calls made
// after Close fail with ErrClosed.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.batch.close()
		db.issue.close()
		db.prepared.close()
		db.closeErr = errors.Join(db.r.Close(), db.w.Close(), db.k.Close())
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("store: close: %w", db.closeErr)
		}
	})
	return db.closeErr
}

// write runs fn in one write transaction, wrapping its error with op.
func (db *DB) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// writeAudited is write that also appends audit to the audit chain in the
// same transaction, so that an operator's change and its record commit
// together or not at all: a crash can lose neither one alone.
func (db *DB) writeAudited(ctx context.Context, op string, audit []AuditEntry, fn func(tx *sql.Tx) error) error {
	if err := checkAudit(audit); err != nil {
		return err
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return appendAudit(sqlTx{ctx: ctx, tx: tx}, audit)
	})
}

// execOne runs a single write statement that must touch exactly one row,
// reporting ErrNotFound when it touched none.
func (db *DB) execOne(ctx context.Context, op, what, query string, args ...any) error {
	res, err := db.w.ExecContext(ctx, query, args...)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %s: %w", op, what, ErrNotFound)
	}
	return nil
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// queryAll runs query and decodes every row with scan.
func queryAll[T any](ctx context.Context, q querier, op string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// wrap adds context to err and maps SQLite's constraint violations onto
// the package's sentinel errors. SQLite's own messages name tables and
// columns, never values, so keeping them in the chain reveals no data.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrInvalid) || errors.Is(err, ErrClosed) {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("store: %s: referenced row: %w: %w", op, ErrNotFound, err)
		default:
			return fmt.Errorf("store: %s: %w: %w", op, ErrInvalid, err)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// invalid reports a broken argument contract.
func invalid(op, why string) error {
	return fmt.Errorf("store: %s: %s: %w", op, why, ErrInvalid)
}

// nanos encodes a time for an INTEGER column; the zero time is stored as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos decodes what nanos stored, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullable stores an empty string as NULL, for optional references.
func nullable(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// boolInt encodes a bool for an INTEGER 0/1 column.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
