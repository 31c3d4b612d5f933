package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeysFile is the name of the key store, kept next to the database.
const KeysFile = "keys.db"

// KeysPath is the key store that belongs to the database at dbPath: keys.db
// in the same directory.
func KeysPath(dbPath string) string { return filepath.Join(filepath.Dir(dbPath), KeysFile) }

// The key store holds each subject's data key (sealed under the KEK by the
// caller) in its own SQLite file, apart from the ciphertext it unlocks.
// Crypto-shredding then holds against copies of the database: a copy of
// node.db taken before a deletion holds the subject's ciphertext, but the
// key is gone from keys.db, and a copy of node.db never held it. Only a copy
// of keys.db taken before the deletion defeats it, which is why keys.db is
// kept out of long-lived backups (docs/privacy.md).
//
// secure_delete overwrites a deleted key with zeros instead of leaving it in
// a free page, and after each deletion (or batch of them, DeleteSubjects)
// the WAL is checkpointed and truncated (truncateKeysWAL), so the sealed
// key does not linger in keys.db-wal either.
//
// The subjects' blind index (subjectindex.go) lives here too, for the same
// reason: a value of it links an ID number to a subject id, so it must go
// with the data key and leave no copy in node.db's free pages.
const keysSchema = `CREATE TABLE IF NOT EXISTS subject_keys (
	id     TEXT PRIMARY KEY,
	sealed BLOB NOT NULL
) STRICT, WITHOUT ROWID;
` + subjectIndexSchema

// openKeys opens the key store at path with the database's pragmas plus
// secure_delete, on one connection for its writes and its checkpoints.
// Hot reads go through the database's read pool, which attaches the key
// store read-only (openReadPool).
func openKeys(ctx context.Context, path string) (*sql.DB, error) {
	k, err := sql.Open("sqlite", dsn(path, false, "secure_delete(1)"))
	if err != nil {
		return nil, fmt.Errorf("store: open keys: %w", err)
	}
	keepConns(k, 1)
	if _, err := k.ExecContext(ctx, keysSchema); err != nil {
		k.Close()
		return nil, openKeysError(path, err)
	}
	return k, nil
}

// openKeysError is how a start refuses the key store at path that SQLite
// could not read (err); a preflight says the same (CheckKeyStore).
func openKeysError(path string, err error) error {
	return fmt.Errorf("store: open keys %s: %w", path, err)
}

// ErrKeyStoreMissing is the refusal to open a database that holds
// residents without its key store (MissingKeyStoreError).
var ErrKeyStoreMissing = errors.New("the key store is missing")

// MissingKeyStoreError is how a start refuses a database that holds
// residents when the key store at keysPath is not there; a preflight says
// the same.
func MissingKeyStoreError(keysPath string, residents int) error {
	s := "s"
	if residents == 1 {
		s = ""
	}
	return fmt.Errorf("store: %w: %s is not there, and the database holds the data of %d resident%s, "+
		"sealed under data keys only it held; starting would make an empty one and those records could never "+
		"be read again. Put it back (hcnode restore --keys-from) and start again; if no copy is left, those records are "+
		"lost: create an empty key store yourself (touch %s, mode 0600) to start without them, and those residents enrol again",
		ErrKeyStoreMissing, keysPath, residents, s, keysPath)
}

// KeyStoreNotLost refuses, before anything is created, to open the
// database at path without its key store at keysPath when the database
// holds residents: a restore that brought node.db back but not keys.db,
// or a keys.db moved away, would otherwise start with a new, empty key
// store, and every resident's record would stay sealed for good. A new
// database, or one from before the data keys moved out of it (migration
// 0004 moves them at this open), has no such key store to lose.
func KeyStoreNotLost(ctx context.Context, path, keysPath string) error {
	if _, err := os.Stat(keysPath); !errors.Is(err, os.ErrNotExist) {
		return nil // there, or unreadable: opening it says which
	}
	if _, err := os.Stat(path); err != nil {
		return nil // a new database; or one the open proper reports on
	}
	n, err := residentsOutsideDB(ctx, path)
	if err != nil || n == 0 {
		return err
	}
	return MissingKeyStoreError(keysPath, n)
}

// residentsOutsideDB counts the residents of the database at path whose
// data keys live in a key store (migration 0004 and later), read-only.
func residentsOutsideDB(ctx context.Context, path string) (int, error) {
	pool, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return 0, fmt.Errorf("store: open: %w", err)
	}
	defer pool.Close()
	// A file SQLite cannot read is not a new database: refuse it before
	// the open proper makes an empty key store beside it.
	var tables, version, n int
	if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, unreadableError(path, err)
	}
	if tables == 0 {
		return 0, nil // no schema yet: a new database
	}
	if err := pool.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, unreadableError(path, err)
	}
	if version < keysApartVersion {
		return 0, nil // the data keys are still inside the database
	}
	if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM subjects`).Scan(&n); err != nil {
		return 0, wrap("open", err)
	}
	return n, nil
}

// unreadableError is the refusal of a database at path that SQLite could
// not read (err) while its key store is missing.
func unreadableError(path string, err error) error {
	return fmt.Errorf("store: open: %s cannot be read (%v), so whether it holds residents whose data keys "+
		"were in the missing key store cannot be told; no key store was made. Put back a good copy of the database "+
		"(and its key store) and start again", path, err)
}

// keysApartVersion is the migration that moved the data keys out of the
// database into the key store (0004_subject_keys_apart.sql).
const keysApartVersion = 4

// putSubjectKey stores a subject's sealed data key and, if idx is not
// nil, its blind index value, in one transaction; ErrConflict if the id
// already has a key, and a *DuplicateError if another subject holds idx.
func (db *DB) putSubjectKey(ctx context.Context, id string, sealed, idx []byte) error {
	const op = "put subject key"
	tx, err := db.k.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `INSERT INTO subject_keys (id, sealed) VALUES (?, ?)`, id, sealed); err != nil {
		return wrap(op, err)
	}
	if idx != nil {
		if err := insertIndex(ctx, tx, id, idx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, tx.Commit())
}

// subjectKey reads a subject's sealed data key; ErrNotFound once shredded.
func (db *DB) subjectKey(ctx context.Context, id string) ([]byte, error) {
	var sealed []byte
	err := db.keysGate.read(func() error {
		return db.readRow(ctx, `SELECT sealed FROM keys.subject_keys WHERE id = ?`, id).Scan(&sealed)
	})
	return sealed, wrap("subject key", err)
}

// SubjectKeys reads the sealed data keys of the subjects ids in one query,
// by subject id; a subject that is absent or shredded has none. A caller
// that seals something new of a subject (the reason of a status change)
// reads the key here, so that it is shredded with the rest.
func (db *DB) SubjectKeys(ctx context.Context, ids []string) (map[string][]byte, error) {
	const op = "subject keys"
	out := make(map[string][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if err := db.keysGate.read(func() error { return readSubjectKeys(ctx, db.r, ids, out) }); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// readSubjectKeys adds the sealed data keys of the subjects ids to out.
func readSubjectKeys(ctx context.Context, r *sql.DB, ids []string, out map[string][]byte) error {
	rows, err := r.QueryContext(ctx, `SELECT id, sealed FROM keys.subject_keys
		WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			return err
		}
		out[id] = sealed
	}
	return rows.Err()
}

// shredSubjectKeys deletes the data keys of the subjects ids (absent is
// fine) and their blind index values, in one transaction, and purges
// them from the WAL with one truncation.
func (db *DB) shredSubjectKeys(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := db.deleteSubjectKeys(ctx, ids); err != nil {
		return err
	}
	return db.truncateKeysWAL(ctx)
}

// deleteSubjectKeys deletes the data keys of the subjects ids (absent is
// fine) and their blind index values, in one transaction of the key
// store, leaving them in its WAL until the caller truncates it
// (truncateKeysWAL).
func (db *DB) deleteSubjectKeys(ctx context.Context, ids []string) error {
	const op = "shred subject key"
	tx, err := db.k.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, q := range []string{
		`DELETE FROM subject_keys WHERE id IN (SELECT value FROM json_each(?))`,
		`DELETE FROM subject_index WHERE id IN (SELECT value FROM json_each(?))`,
	} {
		if _, err := tx.ExecContext(ctx, q, jsonIDs(ids)); err != nil {
			return wrap(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	// A read that raced the shredding may have cached a key: issuance
	// stops signing with it now, not when the deletion commits. A read
	// begun before this cannot fill the cache after it (generation), and
	// one begun after finds no key.
	for _, id := range ids {
		db.issue.forget(id)
	}
	return nil
}

// shredAllSubjectKeys deletes every data key, the blind index and its key,
// and purges them from the WAL and the file's free pages. Unlike one
// subject's shredding, it fails with ErrBusy if a reader in another
// process kept the WAL from being truncated: the sunset that calls it
// stops there, rather than report the keys gone while keys.db-wal still
// holds them, and runs again once the reader has let go.
//
// The VACUUM runs outside the key gate, and needs none: a read of
// keys.db racing it sees the keys deleted (the deletion committed
// before it, and VACUUM changes no content), VACUUM writes no key into
// the WAL (it copies what is left after the deletion), and in WAL mode
// it keeps no rollback journal of keys.db. What may still hold a key is
// the WAL from before the deletion, which the truncation after it
// empties under the gate.
func (db *DB) shredAllSubjectKeys(ctx context.Context) error {
	if _, err := db.k.ExecContext(ctx, `DELETE FROM subject_keys; DELETE FROM subject_index; DELETE FROM subject_index_key`); err != nil {
		return wrap("shred subject keys", err)
	}
	db.issue.clear() // as shredSubjectKeys' forget, for everyone
	if _, err := db.k.ExecContext(ctx, `VACUUM`); err != nil {
		return wrap("shred subject keys", err)
	}
	if err := db.truncateKeysWAL(ctx); err != nil {
		return err
	}
	if db.keysWALPending.Load() {
		return fmt.Errorf("store: shred subject keys: another process holds keys.db, whose WAL keeps the deleted keys "+
			"until it lets go; nothing else was deleted: stop that process and run again: %w", ErrBusy)
	}
	return nil
}

// truncateKeysWAL copies the WAL into keys.db and truncates it to zero
// bytes, so that frames holding deleted keys do not survive in it. With
// secure_delete the checkpointed pages hold zeros where the keys were.
//
// The node's own readers of keys.db wait at the gate meanwhile
// (keysGate), so continuous issuance does not keep the truncation from
// finishing. A reader in another process (the operator CLI, say) that
// holds keys.db past keysTruncateWait does: the deletion still stands —
// the key is gone from the table and no read finds it — but its old
// frames are still in the WAL. KeysWALPending then reports it, and
// FinishShredding, which the node calls on every tick, truncates the WAL
// once that reader has let go.
func (db *DB) truncateKeysWAL(ctx context.Context) error {
	busy, err := db.checkpointKeys(ctx)
	db.keysWALPending.Store(busy || err != nil)
	return wrap("checkpoint keys", err)
}

// KeysWALPending reports whether keys.db's WAL may still hold frames of a
// shredded key: its last truncation found a reader in the way.
func (db *DB) KeysWALPending() bool { return db.keysWALPending.Load() }

// FinishShredding truncates keys.db's WAL if a shredding left frames in
// it (KeysWALPending); it reports ErrBusy while a reader still holds it.
func (db *DB) FinishShredding(ctx context.Context) error {
	if !db.keysWALPending.Load() {
		return nil
	}
	if err := db.truncateKeysWAL(ctx); err != nil {
		return err
	}
	if db.keysWALPending.Load() {
		return fmt.Errorf("store: checkpoint keys: a reader holds keys.db: %w", ErrBusy)
	}
	return nil
}

// moveSubjectKeys copies the data keys that older schemas kept in the
// subjects table into the key store, before the migration that drops the
// column. It runs inside that migration's transaction on node.db, so a
// crash before the drop commits only leaves keys copied twice (the copy
// ignores ids it already has).
func moveSubjectKeys(ctx context.Context, tx *sql.Tx, k *sql.DB) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, data_key FROM subjects`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	type row struct {
		id     string
		sealed []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.sealed); err != nil {
			return 0, err
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, nil
	}
	ktx, err := k.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer ktx.Rollback() //nolint:errcheck // no-op after Commit
	for _, r := range all {
		if _, err := ktx.ExecContext(ctx, `INSERT INTO subject_keys (id, sealed) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
			r.id, r.sealed); err != nil {
			return 0, err
		}
	}
	return len(all), ktx.Commit()
}
