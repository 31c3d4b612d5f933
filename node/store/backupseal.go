package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hcfed/hcfed/node/seal"
)

// A backup holds no secret in clear (keys and personal data are sealed
// by the KEK, which is never copied), but nothing in it is protected
// from change: whoever can write where backups are kept could set
// residents' statuses, add scanners or tokens (a token issued before the
// keyed check is looked up by its hash alone), or drop rows, and a
// restore would put that in place. So `hcnode backup` seals each copy's
// SHA-256 with the node's KEK beside it (FILE.seal), and a restore checks
// it: a copy changed since, or taken by another node (another KEK), is
// refused.
//
// A seal binds its backup too: it names the backup's id (random, made
// when the backup was taken), the time it was taken, and the SHA-256 of
// the backup's other copy (keys.db for node.db, node.db for keys.db), so
// that a node.db and a keys.db of different backups are refused
// together (ErrBackupMismatchedPair), and a restore can say when the
// backup it puts back was taken, from its seal. A seal an earlier hcnode
// wrote (the file's SHA-256 alone) is still accepted: the file is checked
// against it, and nothing else (BackupSeals.Earlier).

// BackupSealSuffix names the seal beside a copy: node.db.seal.
const BackupSealSuffix = ".seal"

// The additional data of a seal binds it to its file's name, so that the
// seal of one copy (keys.db) cannot stand for another (node.db), and to
// its form: backupSealAADv1 for an earlier build's (the file's SHA-256
// alone), backupSealAAD for this one's (backupSeal, in JSON).
const (
	backupSealAADv1 = "hcfed/backup-seal/v1\x00"
	backupSealAAD   = "hcfed/backup-seal/v2\x00"
)

// Errors of CheckBackupSeals and Restore.
var (
	// ErrBackupUnsealed: the copy has no seal beside it (taken by an
	// hcnode that did not seal its backups, or the seal removed).
	ErrBackupUnsealed = errors.New("backup_unsealed")
	// ErrBackupSealMismatch: the seal does not open with this node's KEK
	// (another node's backup, or the seal altered), or the copy is not
	// the one sealed (altered since it was taken).
	ErrBackupSealMismatch = errors.New("backup_seal_mismatch")
	// ErrBackupMismatchedPair: the node.db and keys.db copies given are
	// not of one backup (each genuine, taken at different times).
	ErrBackupMismatchedPair = errors.New("backup_mismatched_pair")
)

// backupSeal is what a seal holds, opened.
type backupSeal struct {
	// Backup is the backup's id, random, made when it was taken.
	Backup string `json:"backup"`
	// Taken is when the backup was taken: the BackupTakenAt its node.db
	// copy records.
	Taken time.Time `json:"taken"`
	// SHA256 is the sealed copy's.
	SHA256 []byte `json:"sha256"`
	// Pair is the SHA-256 of the backup's other copy (keys.db for
	// node.db, node.db for keys.db); nil for a node.db backed up alone.
	Pair []byte `json:"pair,omitempty"`
	// earlier marks a seal an earlier hcnode wrote: SHA256 alone.
	earlier bool
}

// current reports whether s is a seal of this build (it binds its
// backup), not an earlier one's nor none.
func (s *backupSeal) current() bool { return s != nil && !s.earlier }

// BackupSeal says which backup SealBackup sealed.
type BackupSeal struct {
	ID    string    // random, made when the backup was taken
	Taken time.Time // when it was taken (BackupTakenAt of its node.db copy)
}

// SealBackup seals the copies of one backup with kek: node.db at path
// and, if keysPath is not "", keys.db at keysPath, taken together. Each
// seal, FILE+BackupSealSuffix (mode 0600; never over an existing file),
// holds the copy's SHA-256, the other copy's, a new random backup id and
// the time the node.db copy records it was taken. If a seal cannot be
// written, those written are removed.
func SealBackup(ctx context.Context, kek *seal.Key, path, keysPath string) (BackupSeal, error) {
	taken, err := backupTakenAt(ctx, path)
	if err != nil {
		return BackupSeal{}, fmt.Errorf("store: sealing backup: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return BackupSeal{}, fmt.Errorf("store: sealing backup: %w", err)
	}
	bs := BackupSeal{ID: hex.EncodeToString(id), Taken: taken}
	sum, err := fileSHA256(path)
	if err != nil {
		return BackupSeal{}, fmt.Errorf("store: sealing backup: %w", err)
	}
	var keysSum []byte
	if keysPath != "" {
		if keysSum, err = fileSHA256(keysPath); err != nil {
			return BackupSeal{}, fmt.Errorf("store: sealing backup: %w", err)
		}
	}
	if err := writeBackupSeal(path, kek, backupSeal{Backup: bs.ID, Taken: taken, SHA256: sum, Pair: keysSum}); err != nil {
		return BackupSeal{}, err
	}
	if keysPath != "" {
		if err := writeBackupSeal(keysPath, kek, backupSeal{Backup: bs.ID, Taken: taken, SHA256: keysSum, Pair: sum}); err != nil {
			os.Remove(path + BackupSealSuffix)
			return BackupSeal{}, err
		}
	}
	return bs, nil
}

// writeBackupSeal writes s, sealed with kek, beside the copy at path.
func writeBackupSeal(path string, kek *seal.Key, s backupSeal) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: sealing backup: %w", err)
	}
	f, err := os.OpenFile(path+BackupSealSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: sealing backup: %w", err)
	}
	_, err = f.Write(kek.Seal(sealAAD(backupSealAAD, path), b))
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path + BackupSealSuffix)
		return fmt.Errorf("store: sealing backup: %w", err)
	}
	return nil
}

// backupTakenAt reads the BackupTakenAt the node.db copy at path records.
func backupTakenAt(ctx context.Context, path string) (time.Time, error) {
	pool, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return time.Time{}, err
	}
	defer pool.Close()
	var v string
	if err := pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, BackupTakenAt).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("%s: the time the copy was taken (%s): %w", path, BackupTakenAt, err)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %s is not a time: %w", path, BackupTakenAt, err)
	}
	return t.UTC(), nil
}

// BackupSeals is what the seals of the copies a restore is given say,
// checked against the copies and each other (CheckBackupSeals).
type BackupSeals struct {
	// ID and Taken are the backup's, from the seals of this build; ""
	// and zero if no copy has one (an earlier hcnode sealed them, or
	// they were accepted unsealed).
	ID    string
	Taken time.Time
	// Paired: keys.db was checked to be of the same backup as node.db.
	Paired bool
	// Earlier are the copies whose seal an earlier hcnode wrote: each
	// was checked to be the file sealed, not its pair nor its time.
	Earlier []string
	// Unsealed are the copies accepted without a seal.
	Unsealed []string
	// sums are the SHA-256 of the copies as checked, by path: a restore
	// given these (RestoreOptions.Checked) puts those bytes in place or
	// none.
	sums map[string][]byte
}

// same refuses the copy at path, of SHA-256 sum, unless it is the one
// bs was checked on.
func (bs *BackupSeals) same(path string, sum []byte) error {
	if bs == nil || bytes.Equal(bs.sums[path], sum) {
		return nil
	}
	return fmt.Errorf("%s: %w: it is not the copy the plan checked (it was replaced since, perhaps by another backup "+
		"with its seal): find out who could write where backups are kept, then run the restore again", path, ErrBackupSealMismatch)
}

// CheckBackupSeals checks the node.db copy at src and, if keysSrc is not
// "", the keys.db copy there, against their seals with kek, and against
// each other: ErrBackupUnsealed for a copy with no seal (unless
// acceptUnsealed: it is listed in Unsealed), ErrBackupSealMismatch for a
// seal not this node's or a copy changed since it was sealed,
// ErrBackupMismatchedPair for copies of different backups. It reads each
// copy once: a restore checks again the bytes it puts in place
// (RestoreOptions.KEK), since a copy may be replaced after this check.
func CheckBackupSeals(src, keysSrc string, kek *seal.Key, acceptUnsealed bool) (BackupSeals, error) {
	var bs BackupSeals
	var copies [2]sealedCopy
	for i, path := range []string{src, keysSrc} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return BackupSeals{}, fmt.Errorf("store: backup: %w", err)
		}
		s, err := openBackupSeal(path, kek)
		switch {
		case errors.Is(err, ErrBackupUnsealed) && acceptUnsealed:
			bs.Unsealed = append(bs.Unsealed, path)
		case err != nil:
			return BackupSeals{}, err
		case s.earlier:
			bs.Earlier = append(bs.Earlier, path)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return BackupSeals{}, fmt.Errorf("store: backup seal: %w", err)
		}
		copies[i] = sealedCopy{path: path, sum: sum, seal: s}
		if err := copies[i].matches(); err != nil {
			return BackupSeals{}, err
		}
		if bs.sums == nil {
			bs.sums = map[string][]byte{}
		}
		bs.sums[path] = sum
		if s.current() && bs.ID == "" {
			bs.ID, bs.Taken = s.Backup, s.Taken
		}
	}
	if err := checkPair(copies[0], copies[1]); err != nil {
		return BackupSeals{}, err
	}
	bs.Paired = keysSrc != "" && (copies[0].seal.current() || copies[1].seal.current())
	return bs, nil
}

// openBackupSeal returns what the seal beside path holds, opened with
// kek: ErrBackupUnsealed if there is no seal, ErrBackupSealMismatch if it
// does not open.
func openBackupSeal(path string, kek *seal.Key) (*backupSeal, error) {
	sealed, err := os.ReadFile(path + BackupSealSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: there is no %s beside it, so whether it was changed since it was taken "+
			"cannot be told", path, ErrBackupUnsealed, filepath.Base(path)+BackupSealSuffix)
	}
	if err != nil {
		return nil, fmt.Errorf("store: backup seal: %w", err)
	}
	if b, err := kek.Open(sealAAD(backupSealAAD, path), sealed); err == nil {
		var s backupSeal
		if err := json.Unmarshal(b, &s); err != nil || len(s.SHA256) != sha256.Size || s.Backup == "" {
			return nil, fmt.Errorf("%s: %w: its seal opens but holds no backup's seal (%v)", path, ErrBackupSealMismatch, err)
		}
		return &s, nil
	}
	if sum, err := kek.Open(sealAAD(backupSealAADv1, path), sealed); err == nil && len(sum) == sha256.Size {
		return &backupSeal{SHA256: sum, earlier: true}, nil
	}
	return nil, fmt.Errorf("%s: %w: its seal does not open with this node's KEK: it is another node's backup "+
		"(restore it on that node, with its KEK), or its seal was altered", path, ErrBackupSealMismatch)
}

// sealedCopy is a copy given to a restore: its path, the SHA-256 of its
// bytes as read, and its seal (nil if accepted unsealed).
type sealedCopy struct {
	path string
	sum  []byte
	seal *backupSeal
}

// matches compares the copy's bytes with those its seal holds.
func (c sealedCopy) matches() error {
	if c.seal != nil && !bytes.Equal(c.sum, c.seal.SHA256) {
		return fmt.Errorf("%s: %w: it was changed since this node sealed it: use another copy, and find out who "+
			"could write where backups are kept", c.path, ErrBackupSealMismatch)
	}
	return nil
}

// checkPair refuses a node.db copy db and a keys.db copy keys (path ""
// if none is restored: the node keeps its key store) that are not of one
// backup, as far as their seals tell: a seal of this build names the
// other copy of its backup, by its SHA-256; an earlier build's, or none,
// names nothing.
func checkPair(db, keys sealedCopy) error {
	if keys.path == "" {
		return nil
	}
	mismatch := func(why string) error {
		return fmt.Errorf("%s and %s: %w: they are not of one backup (%s), and a node.db put back with a key store "+
			"of another time loses residents' data keys or brings back those of residents deleted since: restore "+
			"both copies of one backup (the directories backup wrote together), or node.db alone to keep the node's key store",
			db.path, keys.path, ErrBackupMismatchedPair, why)
	}
	of := func(c sealedCopy) string {
		return fmt.Sprintf("%s is of backup %s, taken at %s", filepath.Base(c.path), c.seal.Backup, c.seal.Taken.UTC().Format(time.RFC3339))
	}
	ds, ks := db.seal, keys.seal
	dNew, kNew := ds.current(), ks.current()
	switch {
	case dNew && ds.Pair == nil:
		return mismatch(of(db) + ", which has no key store copy")
	case dNew && kNew && ds.Backup != ks.Backup:
		return mismatch(of(db) + "; " + of(keys))
	case dNew && !bytes.Equal(ds.Pair, keys.sum):
		return mismatch(of(db) + ", and " + filepath.Base(keys.path) + " is not its key store copy")
	case kNew && !bytes.Equal(ks.Pair, db.sum):
		return mismatch(of(keys) + ", and " + filepath.Base(db.path) + " is not its database copy")
	}
	return nil
}

func sealAAD(prefix, path string) []byte { return []byte(prefix + filepath.Base(path)) }

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
