package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Backup writes a consistent copy of the SQLite file at src to dst (which
// must not exist), while other connections, in this process or another,
// keep reading and writing src. It opens src read-only and uses VACUUM
// INTO, which copies one read transaction's view of the database: every
// transaction committed before the copy began is in it, none after. The
// copy is compacted, has no WAL and is created with mode 0600.
//
// In a copy of node.db it records when the copy began (BackupTakenAt),
// which a restore names as the time after which changes are lost.
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
	began := time.Now().UTC()
	if _, err := pool.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("store: %s of %s: %w", op, src, err)
	}
	if err := markBackup(ctx, dst, began); err != nil {
		os.Remove(dst)
		return fmt.Errorf("store: %s: marking the copy %s with its time: %w", op, dst, err)
	}
	return nil
}

// markBackup records at in the copy at path as BackupTakenAt, if it is
// a node database (a key store has no meta table).
func markBackup(ctx context.Context, path string, at time.Time) error {
	pool, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	var tables int
	err = pool.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).Scan(&tables)
	if err == nil && tables == 1 {
		_, err = pool.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, BackupTakenAt, at.Format(time.RFC3339Nano))
	}
	return errors.Join(err, pool.Close())
}

// Restored is the meta key that marks a database put back from a backup,
// with the time of the restore (RFC 3339, to the nanosecond; to the
// second if an earlier build restored it): the node reconciles its revocation
// sequence and keyset version with the federation's before it publishes.
const Restored = "restored_at"

// ErrNotABackup is returned by CheckBackup for a file that is not a node
// database.
var ErrNotABackup = errors.New("not a node database")

// ErrBackupDamaged is returned by CheckBackup and Restore for a copy whose
// pages SQLite cannot all read (cut short, overwritten): a restore of it
// would fail at a read of the lost pages, while the node serves.
var ErrBackupDamaged = errors.New("backup_damaged")

// CheckBackup opens the copy at path read-only, checks that SQLite can
// read every page of it (ErrBackupDamaged if not), and returns the
// province it belongs to and its newest revocation seq, so that a
// restore can refuse another province's backup and say what it is about
// to do.
func CheckBackup(ctx context.Context, path string) (province string, lastSeq uint64, err error) {
	if _, err := os.Stat(path); err != nil {
		return "", 0, fmt.Errorf("store: backup: %w", err)
	}
	pool, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return "", 0, err
	}
	defer pool.Close()
	if err := backupIntact(ctx, pool, path); err != nil {
		return "", 0, err
	}
	if err := pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'province'`).Scan(&province); err != nil {
		return "", 0, fmt.Errorf("%s: %w (%v)", path, ErrNotABackup, err)
	}
	var seq int64
	if err := pool.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&seq); err != nil {
		return "", 0, fmt.Errorf("%s: %w (%v)", path, ErrNotABackup, err)
	}
	return province, uint64(seq), nil
}

// backupIntact runs quickCheck on the copy pool opened at path: every
// page read, every b-tree walked. A copy cut short or with pages
// overwritten fails it (ErrBackupDamaged); a file that is no SQLite
// database at all is ErrNotABackup.
func backupIntact(ctx context.Context, pool *sql.DB, path string) error {
	err := quickCheck(ctx, pool, path)
	switch {
	case err == nil, ctx.Err() != nil:
		return err
	case strings.Contains(err.Error(), "not a database"):
		return fmt.Errorf("%s: %w (%v)", path, ErrNotABackup, err)
	}
	return fmt.Errorf("%w: %w; use another copy", ErrBackupDamaged, err)
}
