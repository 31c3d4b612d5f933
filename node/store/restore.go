package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hcfed/hcfed/node/seal"
)

// restoringSuffix names a copy staged beside the file it is to replace.
const restoringSuffix = ".restoring"

// Restore puts the backup at src in place of the database at dbPath
// (whose node must be stopped: the caller holds the data directory's
// lock) and marks it Restored, so that the node reconciles with the
// federation at its next start. The database it replaces, with its WAL,
// is kept beside it as *.before-restore-STAMP. With keysSrc, the key
// store is put back the same way; without, the current one is kept. A
// restore that CheckRestore refuses, or of a copy SQLite cannot read
// whole (ErrBackupDamaged), replaces nothing.
//
// It is all or nothing: both copies are staged (and the database copy
// marked) beside their targets before anything is replaced, then renamed
// in; a copy that fails (a full disk) or a rename that fails leaves the
// node's files as they were.
//
// With opts.UnpairScanners, every scanner the backup holds is removed in
// the copy before it is put in place; with opts.KEK, each copy staged
// must match its seal, and the copies be of one backup (RestoreOptions).
//
// It returns the stamp it kept the replaced files under: stamp, or
// stamp-2, -3... if a restore in the same second already kept files
// under it (those are never overwritten).
func Restore(ctx context.Context, src, keysSrc, dbPath, stamp string, opts RestoreOptions) (kept string, err error) {
	if err := CheckRestore(ctx, src, keysSrc, dbPath); err != nil {
		return "", err
	}
	targets := map[string]string{dbPath: src}
	order := []string{dbPath}
	if keysSrc != "" {
		targets[KeysPath(dbPath)] = keysSrc
		order = append(order, KeysPath(dbPath))
	}
	if kept, err = freeStamp(order, stamp); err != nil {
		return "", err
	}
	var staged []string
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp) // gone once renamed in; a leftover after a failure
		}
	}()
	var copies [2]sealedCopy
	for i, dst := range order {
		tmp := dst + restoringSuffix
		s, err := opts.sealOf(targets[dst])
		if err != nil {
			return "", err
		}
		sum, err := copyFileSum(targets[dst], tmp)
		if err != nil {
			return "", fmt.Errorf("store: restore: copying %s to %s failed, so nothing was replaced: %w "+
				"(free space or clear the way beside %s, then run the restore again)", targets[dst], tmp, err, dst)
		}
		staged = append(staged, tmp)
		// The bytes staged are those the seal is checked against, not
		// the source read again: whoever can write where backups are
		// kept could replace a copy between the caller's check
		// (CheckBackupSeals) and this copy.
		copies[i] = sealedCopy{path: targets[dst], sum: sum, seal: s}
		err = copies[i].matches()
		if err == nil {
			err = opts.Checked.same(targets[dst], sum) // the copy the plan named, not another sealed one
		}
		if err != nil {
			return "", fmt.Errorf("store: restore: nothing was replaced: %w", err)
		}
		// The staged copy is what goes in place: checked, not its source,
		// so that a copy the disk spoilt is refused too.
		if err := checkIntact(ctx, tmp); err != nil {
			return "", fmt.Errorf("store: restore: the copy of %s, so nothing was replaced: %w", targets[dst], err)
		}
	}
	if opts.KEK != nil {
		if err := checkPair(copies[0], copies[1]); err != nil {
			return "", fmt.Errorf("store: restore: nothing was replaced: %w", err)
		}
	}
	if err := markRestored(ctx, dbPath+restoringSuffix, time.Now().UTC(), opts); err != nil {
		return "", fmt.Errorf("store: restore: marking the copy of %s as restored failed, so nothing was replaced: %w", src, err)
	}
	return kept, swapIn(order, kept)
}

// CheckCopy checks that SQLite can read the whole of the copy at path (a
// key store's, which CheckBackup does not take): ErrBackupDamaged if not.
func CheckCopy(ctx context.Context, path string) error { return checkIntact(ctx, path) }

// checkIntact runs backupIntact on the database file at path, read-only.
func checkIntact(ctx context.Context, path string) error {
	pool, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return err
	}
	return errors.Join(backupIntact(ctx, pool, path), pool.Close())
}

// maxStampTries bounds how many stamps freeStamp tries.
const maxStampTries = 100

// beforeRestore is the name under which a restore kept with stamp keeps
// the file at path.
func beforeRestore(path, stamp string) string { return path + ".before-restore-" + stamp }

// freeStamp returns stamp, or stamp-N, such that no file to be kept
// (each of order, with its sidecars) would take an existing name.
func freeStamp(order []string, stamp string) (string, error) {
	for n := 1; n <= maxStampTries; n++ {
		s := stamp
		if n > 1 {
			s = fmt.Sprintf("%s-%d", stamp, n)
		}
		free := true
		for _, dst := range order {
			for _, suffix := range sqliteSidecars {
				if _, err := os.Lstat(beforeRestore(dst+suffix, s)); err == nil {
					free = false
				}
			}
		}
		if free {
			return s, nil
		}
	}
	return "", fmt.Errorf("store: restore: %d restores already kept files beside %s under %s: "+
		"move the *.before-restore-%s files away, then run the restore again", maxStampTries, order[0], stamp, stamp)
}

// ErrBackupNewer is returned by CheckRestore (and Restore) for a backup
// of a database a newer build migrated, on which this build would not
// start.
var ErrBackupNewer = errors.New("backup of a newer build's database")

// CheckRestore refuses, before anything is replaced, a restore of the
// backup at src (with the key store at keysSrc, if not "") in place of
// the database at dbPath that would leave the node unable to start: the
// backup is of a database a newer build migrated (ErrBackupNewer: after
// an upgrade, a backup taken since, restored with the older binary put
// back), or it would be left without its key store: the copy in keysSrc
// is not there, or none is given, none is beside dbPath, and the backup
// holds residents (KeyStoreNotLost, in the words a start refuses with).
// It refuses too a restore while the clock reads before the backup was
// taken (ErrClockBehindBackup). Restore checks it first; a caller that
// only says what a restore would do checks it too.
func CheckRestore(ctx context.Context, src, keysSrc, dbPath string) error {
	if err := backupNotNewer(ctx, src); err != nil {
		return err
	}
	if err := clockNotBehind(ctx, src, time.Now()); err != nil {
		return err
	}
	if keysSrc != "" {
		if _, err := os.Stat(keysSrc); err != nil {
			return fmt.Errorf("store: restore: the key store copy: %w", err)
		}
		return nil
	}
	return KeyStoreNotLost(ctx, src, KeysPath(dbPath))
}

// backupNotNewer refuses the backup at src if a newer build migrated its
// database. An older build's backup is fine: the next start migrates it.
func backupNotNewer(ctx context.Context, src string) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	pool, err := sql.Open("sqlite", readOnlyDSN(src))
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer pool.Close()
	var newest int
	if err := pool.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		// A copy cut short fails here before Restore's own check of
		// its staged copy: say it is damaged, not that it is no backup.
		if ierr := backupIntact(ctx, pool, src); ierr != nil {
			return ierr
		}
		return fmt.Errorf("%s: %w (%v)", src, ErrNotABackup, err)
	}
	if newest > len(ms) {
		return fmt.Errorf("store: restore: %s is a %w (schema version %d, this build's %d), on which this build "+
			"would not start, so nothing was replaced: restore it with the hcnode release that migrated it, or a later one; "+
			"to go back to this build, restore a backup taken before the upgrade", src, ErrBackupNewer, newest, len(ms))
	}
	return nil
}

// ErrClockBehindBackup is returned by CheckRestore (and Restore) while
// the clock reads before the backup was taken.
var ErrClockBehindBackup = errors.New("clock_behind_backup")

// clockNotBehind refuses the backup at src if now is before it was taken:
// its BackupTakenAt, or for a copy without one, its newest audit entry.
// A restored node starts its new content keys' generations, in every
// epoch up to the one after the restore's, from the restore's time (the
// Restored mark, now): with the clock behind the database the backup
// lost, it would make keys under ids that database used, with other
// material, and peers holding those would refuse them
// (content_key_conflict). The lost database ran after the backup was
// taken, so a clock behind the backup is behind it too.
func clockNotBehind(ctx context.Context, src string, now time.Time) error {
	pool, err := sql.Open("sqlite", readOnlyDSN(src))
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer pool.Close()
	var taken time.Time
	var v string
	switch err := pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, BackupTakenAt).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		var last sql.NullInt64
		if err := pool.QueryRowContext(ctx, `SELECT MAX(time) FROM audit`).Scan(&last); err != nil {
			return fmt.Errorf("store: restore: %s: %w (%v)", src, ErrNotABackup, err)
		}
		taken = fromNanos(last.Int64)
	case err != nil:
		return fmt.Errorf("store: restore: %s: %w (%v)", src, ErrNotABackup, err)
	default:
		if taken, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Errorf("store: restore: %s: %s is not a time: %w", src, BackupTakenAt, err)
		}
	}
	if now.Before(taken) {
		return fmt.Errorf("store: restore: %w: this machine's clock reads %s, before %s was taken (%s), so nothing was replaced: "+
			"a restored node numbers its new content keys from the restore's time, and with the clock behind it would make keys "+
			"under ids the lost database used, which peers refuse; set the clock right (NTP), then run the restore again",
			ErrClockBehindBackup, now.UTC().Format(time.RFC3339), src, taken.UTC().Format(time.RFC3339))
	}
	return nil
}

// RestoreOptions are what a restore may do besides putting the copy back.
type RestoreOptions struct {
	// UnpairScanners removes every scanner of the copy (as RemoveScanner
	// does), so that none works until registered again: a scanner
	// removed after the backup (a lost device) would otherwise work
	// again, and the database cannot tell which. The ids are kept under
	// UnpairedScanners for the node to audit at its next start.
	UnpairScanners bool
	// KEK, if set, checks each copy as it is staged against the seal
	// beside its source (SealBackup): a copy that is not the one sealed
	// is refused (ErrBackupSealMismatch), as is one with no seal
	// (ErrBackupUnsealed) unless it is listed in Unsealed, and a node.db
	// and a keys.db of different backups (ErrBackupMismatchedPair).
	KEK *seal.Key
	// Unsealed are the copies (their paths, as given to Restore) the
	// operator accepted without a seal (hcnode restore --accept-unsealed).
	Unsealed []string
	// Checked, if set, is what CheckBackupSeals said of the copies for
	// the plan: each copy staged must be the very one it read
	// (ErrBackupSealMismatch otherwise), so that another genuine backup
	// of this node, its seals with it, put in place of the one the plan
	// named between the two is refused.
	Checked *BackupSeals
}

// sealOf returns what the seal beside the copy at src holds, or nil if
// opts checks no seal or src is accepted unsealed.
func (opts RestoreOptions) sealOf(src string) (*backupSeal, error) {
	if opts.KEK == nil {
		return nil, nil
	}
	s, err := openBackupSeal(src, opts.KEK)
	if errors.Is(err, ErrBackupUnsealed) && slices.Contains(opts.Unsealed, src) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: restore: nothing was replaced: %w", err)
	}
	return s, nil
}

// UnpairedScanners is the meta key holding, as a JSON array, the ids of
// the scanners a restore removed (RestoreOptions.UnpairScanners), until
// the node has audited their removal.
const UnpairedScanners = "restore_unpaired_scanners"

// markRestored writes the Restored mark, with the time at, into the
// staged copy at path, and removes its scanners if opts says so, in one
// transaction, so that all is in place with the copy or not at all. The
// copy is left in rollback-journal mode, one file: the node turns WAL on
// at its next open.
func markRestored(ctx context.Context, path string, at time.Time, opts RestoreOptions) error {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(DELETE)")
	q.Add("_pragma", "synchronous(FULL)")
	pool, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}).String())
	if err != nil {
		return err
	}
	return errors.Join(markRestoredIn(ctx, pool, at, opts), pool.Close())
}

func markRestoredIn(ctx context.Context, pool *sql.DB, at time.Time, opts RestoreOptions) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	set := func(key, value string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	}
	if err := set(Restored, at.Format(time.RFC3339Nano)); err != nil {
		return err
	}
	if opts.UnpairScanners {
		ids, err := queryAll(ctx, tx, "unpair scanners", scanOneString,
			`UPDATE scanners SET disabled = 1 WHERE disabled = 0 RETURNING id`)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE role = 'scanner'`); err != nil {
			return err
		}
		if err := set(UnpairedScanners, jsonIDs(nonNil(ids))); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rename is one rename done by swapIn, undone if a later one fails.
type rename struct{ from, to string }

// swapIn moves each dst in order (with its -wal, -shm and -journal,
// which SQLite would otherwise apply to the copy) aside as
// dst.before-restore-STAMP, and its staged copy dst.restoring in its
// place. If a rename fails, those done are undone, newest first.
func swapIn(order []string, stamp string) error {
	var done []rename
	move := func(from, to string) error {
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("%s is in the way", to)
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
		done = append(done, rename{from, to})
		return nil
	}
	var err error
	for _, dst := range order {
		for _, suffix := range sqliteSidecars {
			if _, serr := os.Stat(dst + suffix); serr == nil {
				if err = move(dst+suffix, beforeRestore(dst+suffix, stamp)); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = move(dst+restoringSuffix, dst)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		return syncDir(filepath.Dir(order[0]))
	}
	var undo []error
	for i := len(done) - 1; i >= 0; i-- {
		undo = append(undo, os.Rename(done[i].to, done[i].from))
	}
	if uerr := errors.Join(undo...); uerr != nil {
		return fmt.Errorf("store: restore: putting the copies in place failed (%v), and so did putting the node's files "+
			"back (%w): compare the files beside %s with their *.before-restore-%s copies before you start the node", err, uerr, order[0], stamp)
	}
	return fmt.Errorf("store: restore: putting the copies in place failed, so the node's files were put back as they were: %w", err)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// copyFile copies src to dst (mode 0600, truncated if it is a file
// there) and syncs it. A dst it created and could not fill is removed;
// anything else in the way is left alone.
func copyFile(src, dst string) error {
	_, err := copyFileSum(src, dst)
	return err
}

// copyFileSum is copyFile, returning the SHA-256 of the bytes it wrote.
func copyFileSum(src, dst string) ([]byte, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		os.Remove(dst)
		return nil, err
	}
	if err := errors.Join(out.Sync(), out.Close()); err != nil {
		os.Remove(dst)
		return nil, err
	}
	return h.Sum(nil), nil
}
