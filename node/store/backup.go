package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Backup writes a consistent copy of the SQLite file at src to dst (which
// must not exist), while other connections, in this process or another,
// keep reading and writing src. It opens src read-only and uses VACUUM
// INTO, which copies one read transaction's view of the database: every
// transaction committed before the copy began is in it, none after. The
// copy is compacted, has no WAL and is created with mode 0600.
//
// Use it for node.db and for keys.db alike; where each copy goes, and for
// how long it is kept, is the operator's decision (docs/privacy.md,
// "Backups and crypto-shredding").
func Backup(ctx context.Context, src, dst string) error {
	const op = "backup"
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: %s: %s already exists: %w", op, dst, ErrConflict)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	// Create the file first so that SQLite writes into a file that only
	// its owner can read.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	f.Close()
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	pool, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("store: %s: %w", op, err)
	}
	defer pool.Close()
	if _, err := pool.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("store: %s of %s: %w", op, src, err)
	}
	return nil
}

// Restored is the meta key that marks a database put back from a backup,
// with the time of the restore: the node reconciles its revocation
// sequence and keyset version with the federation's before it publishes.
const Restored = "restored_at"

// ErrNotABackup is returned by CheckBackup for a file that is not a node
// database.
var ErrNotABackup = errors.New("not a node database")

// CheckBackup opens the copy at path read-only and returns the province
// it belongs to and its newest revocation seq, so that a restore can
// refuse another province's backup and say what it is about to do.
func CheckBackup(ctx context.Context, path string) (province string, lastSeq uint64, err error) {
	if _, err := os.Stat(path); err != nil {
		return "", 0, fmt.Errorf("store: backup: %w", err)
	}
	pool, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return "", 0, err
	}
	defer pool.Close()
	if err := pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'province'`).Scan(&province); err != nil {
		return "", 0, fmt.Errorf("%s: %w (%v)", path, ErrNotABackup, err)
	}
	var seq int64
	if err := pool.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&seq); err != nil {
		return "", 0, fmt.Errorf("%s: %w (%v)", path, ErrNotABackup, err)
	}
	return province, uint64(seq), nil
}

// Restore puts the backup at src in place of the database at dbPath
// (whose node must be stopped: the caller holds the data directory's
// lock) and marks it Restored, so that the node reconciles with the
// federation at its next start. The database it replaces, with its WAL,
// is kept beside it as *.before-restore-STAMP. With keysSrc, the key
// store is put back the same way; without, the current one is kept. A
// restore that CheckRestore refuses replaces nothing.
func Restore(ctx context.Context, src, keysSrc, dbPath, stamp string) error {
	if err := CheckRestore(ctx, src, keysSrc, dbPath); err != nil {
		return err
	}
	if err := putBack(src, dbPath, stamp); err != nil {
		return err
	}
	if keysSrc != "" {
		if err := putBack(keysSrc, KeysPath(dbPath), stamp); err != nil {
			return err
		}
	}
	db, err := Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.SetMeta(ctx, Restored, time.Now().UTC().Format(time.RFC3339))
}

// CheckRestore refuses, before anything is replaced, a restore of the
// backup at src (with the key store at keysSrc, if not "") in place of
// the database at dbPath that would leave it without its key store: the
// copy in keysSrc is not there, or none is given, none is beside dbPath,
// and the backup holds residents (KeyStoreNotLost, in the words a start
// refuses with). Restore checks it first; a caller that only says what a
// restore would do checks it too.
func CheckRestore(ctx context.Context, src, keysSrc, dbPath string) error {
	if keysSrc != "" {
		if _, err := os.Stat(keysSrc); err != nil {
			return fmt.Errorf("store: restore: the key store copy: %w", err)
		}
		return nil
	}
	return KeyStoreNotLost(ctx, src, KeysPath(dbPath))
}

// putBack copies src over dst, keeping dst (and its WAL) as
// dst.before-restore-STAMP.
func putBack(src, dst, stamp string) error {
	tmp := dst + ".restoring"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore %s: %w", dst, err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(dst + suffix); err == nil {
			if err := os.Rename(dst+suffix, dst+suffix+".before-restore-"+stamp); err != nil {
				return fmt.Errorf("store: restore %s: %w", dst, err)
			}
		}
	}
	return os.Rename(tmp, dst)
}

// copyFile copies src to a new file dst (mode 0600) and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}
