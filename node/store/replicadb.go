package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ReplicaDB is a verifier replica's own database (replica.db): its sealed
// enc key, the verification records waiting to be sent to its home node,
// and the federation statements it verified (public: trust list,
// keysets, revocations), so that it restarts without NATS. It has none of the node's tables: a replica holds no personal
// data, no codes and no signing keys, and it cannot write them by mistake
// because it has nowhere to. Like DB it writes with synchronous=FULL, so a
// record queued before a power cut is still sent.
type ReplicaDB struct {
	db *sql.DB // one connection: the replica's writes are small
}

// replicaSchema is the replica database's whole schema. It is created
// once; a later change adds statements that are safe to run again.
const replicaSchema = `
CREATE TABLE IF NOT EXISTS replica_meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS replica_outbox (
	id      TEXT PRIMARY KEY,
	body    BLOB NOT NULL,
	created INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS replica_statements (
	key     TEXT PRIMARY KEY,
	raw     BLOB NOT NULL,
	version INTEGER NOT NULL
) STRICT;`

// OpenReplica opens (creating if needed) a replica database at path.
func OpenReplica(ctx context.Context, path string) (*ReplicaDB, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("store: open replica: path must be a file name without '?': %w", ErrInvalid)
	}
	if err := restrictFiles(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, openReplicaError(path, err)
	}
	keepConns(db, 1)
	if _, err := db.ExecContext(ctx, replicaSchema); err != nil {
		db.Close()
		return nil, openReplicaError(path, err)
	}
	return &ReplicaDB{db: db}, nil
}

// openReplicaError is how a start refuses the replica database at path
// that SQLite could not read (err); a preflight says the same
// (CheckReplicaStore).
func openReplicaError(path string, err error) error {
	return fmt.Errorf("store: open replica database %s: %w", path, err)
}

// Close closes the database.
func (r *ReplicaDB) Close() error { return r.db.Close() }

// Meta reads a setting; ErrNotFound if unset.
func (r *ReplicaDB) Meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := r.db.QueryRowContext(ctx, `SELECT value FROM replica_meta WHERE key = ?`, key).Scan(&v); err != nil {
		return nil, wrap("replica meta", err)
	}
	return v, nil
}

// TimeMeta reads a time SetTimeMeta saved under key, or the zero time if
// none was.
func (r *ReplicaDB) TimeMeta(ctx context.Context, key string) (time.Time, error) {
	v, err := r.Meta(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseTimeMeta(key, string(v))
}

// SetTimeMeta saves t under key, in Unix nanoseconds.
func (r *ReplicaDB) SetTimeMeta(ctx context.Context, key string, t time.Time) error {
	return r.SetMeta(ctx, key, []byte(formatTimeMeta(t)))
}

// InitMeta sets a setting unless it is set, and returns the value held:
// the one given, or the one set before.
func (r *ReplicaDB) InitMeta(ctx context.Context, key string, value []byte) ([]byte, error) {
	if _, err := r.db.ExecContext(ctx, `INSERT INTO replica_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
		key, value); err != nil {
		return nil, wrap("replica meta", err)
	}
	return r.Meta(ctx, key)
}

// OutboxRecord is one record waiting to be sent home.
type OutboxRecord struct {
	ID      string
	Body    []byte
	Created time.Time
}

// Enqueue stores records to send; an id already queued is kept as it is.
func (r *ReplicaDB) Enqueue(ctx context.Context, recs ...OutboxRecord) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("enqueue", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, x := range recs {
		if x.ID == "" || len(x.Body) == 0 {
			return invalid("enqueue", "record without id or body")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO replica_outbox (id, body, created) VALUES (?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, x.ID, x.Body, nanos(x.Created)); err != nil {
			return wrap("enqueue", err)
		}
	}
	return wrap("enqueue", tx.Commit())
}

// Outbox returns up to limit queued records, oldest first.
func (r *ReplicaDB) Outbox(ctx context.Context, limit int) ([]OutboxRecord, error) {
	return queryAll(ctx, r.db, "outbox", func(s rowScanner) (OutboxRecord, error) {
		var x OutboxRecord
		var created int64
		err := s.Scan(&x.ID, &x.Body, &created)
		x.Created = fromNanos(created)
		return x, err
	}, `SELECT id, body, created FROM replica_outbox ORDER BY created, id LIMIT ?`, limit)
}

// OutboxLen counts the queued records.
func (r *ReplicaDB) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM replica_outbox`).Scan(&n)
	return n, wrap("outbox length", err)
}

// Sent deletes records the home node acknowledged.
func (r *ReplicaDB) Sent(ctx context.Context, ids []string) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("sent", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM replica_outbox WHERE id = ?`, id); err != nil {
			return wrap("sent", err)
		}
	}
	return wrap("sent", tx.Commit())
}

// SetMeta sets a setting.
func (r *ReplicaDB) SetMeta(ctx context.Context, key string, value []byte) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO replica_meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return wrap("replica meta", err)
}

// PutStatement caches a verified federation statement under key, unless
// a higher version is cached there.
func (r *ReplicaDB) PutStatement(ctx context.Context, key string, raw []byte, version uint64) error {
	if key == "" || len(raw) == 0 || version > maxInt64 {
		return invalid("put statement", "missing key or body, or version out of range")
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO replica_statements (key, raw, version) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET raw = excluded.raw, version = excluded.version
		WHERE excluded.version >= replica_statements.version`, key, raw, int64(version))
	return wrap("put statement", err)
}

// Statements lists every cached statement.
func (r *ReplicaDB) Statements(ctx context.Context) ([]Statement, error) {
	return queryAll(ctx, r.db, "statements", func(s rowScanner) (Statement, error) {
		var x Statement
		var version int64
		err := s.Scan(&x.Key, &x.Raw, &version)
		x.Version = uint64(version)
		return x, err
	}, `SELECT key, raw, version FROM replica_statements ORDER BY key`)
}

// DeleteStatements deletes the cached statements under prefix up to
// maxVersion, as DB.DeleteStatements does.
func (r *ReplicaDB) DeleteStatements(ctx context.Context, prefix string, maxVersion uint64) error {
	if prefix == "" || maxVersion > maxInt64 {
		return invalid("delete statements", "missing prefix or version out of range")
	}
	_, err := r.db.ExecContext(ctx, `DELETE FROM replica_statements WHERE substr(key, 1, length(?1)) = ?1 AND version <= ?2`,
		prefix, int64(maxVersion))
	return wrap("delete statements", err)
}
