package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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

// BackupSealSuffix names the seal beside a copy: node.db.seal.
const BackupSealSuffix = ".seal"

// backupSealAAD binds a seal to its file's name, so that the seal of one
// copy (keys.db) cannot stand for another (node.db).
const backupSealAAD = "hcfed/backup-seal/v1\x00"

// Errors of CheckBackupSeal.
var (
	// ErrBackupUnsealed: the copy has no seal beside it (taken by an
	// hcnode that did not seal its backups, or the seal removed).
	ErrBackupUnsealed = errors.New("backup_unsealed")
	// ErrBackupSealMismatch: the seal does not open with this node's KEK
	// (another node's backup, or the seal altered), or the copy is not
	// the one sealed (altered since it was taken).
	ErrBackupSealMismatch = errors.New("backup_seal_mismatch")
)

// SealBackup writes the seal of the copy at path: its SHA-256 sealed
// with kek, to path+BackupSealSuffix (mode 0600; never over an existing
// file).
func SealBackup(path string, kek *seal.Key) error {
	sum, err := fileSHA256(path)
	if err != nil {
		return fmt.Errorf("store: sealing backup: %w", err)
	}
	f, err := os.OpenFile(path+BackupSealSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: sealing backup: %w", err)
	}
	_, err = f.Write(kek.Seal(sealAAD(path), sum))
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path + BackupSealSuffix)
		return fmt.Errorf("store: sealing backup: %w", err)
	}
	return nil
}

// CheckBackupSeal checks the copy at path against its seal with kek:
// ErrBackupUnsealed if it has none, ErrBackupSealMismatch if the seal is
// not this node's or the copy changed since it was sealed. It reads the
// copy once: a restore checks again the bytes it puts in place
// (RestoreOptions.KEK), since the copy may be replaced after this check.
func CheckBackupSeal(path string, kek *seal.Key) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	want, err := openBackupSeal(path, kek)
	if err != nil {
		return err
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return fmt.Errorf("store: backup seal: %w", err)
	}
	return sealMatches(path, sum, want)
}

// openBackupSeal returns the SHA-256 the seal beside path holds, opened
// with kek: ErrBackupUnsealed if there is no seal, ErrBackupSealMismatch
// if it does not open.
func openBackupSeal(path string, kek *seal.Key) ([]byte, error) {
	sealed, err := os.ReadFile(path + BackupSealSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: there is no %s beside it, so whether it was changed since it was taken "+
			"cannot be told", path, ErrBackupUnsealed, filepath.Base(path)+BackupSealSuffix)
	}
	if err != nil {
		return nil, fmt.Errorf("store: backup seal: %w", err)
	}
	want, err := kek.Open(sealAAD(path), sealed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: its seal does not open with this node's KEK: it is another node's backup "+
			"(restore it on that node, with its KEK), or its seal was altered", path, ErrBackupSealMismatch)
	}
	return want, nil
}

// sealMatches compares sum, the SHA-256 of the copy at path as read, with
// want, the one its seal holds.
func sealMatches(path string, sum, want []byte) error {
	if !bytes.Equal(sum, want) {
		return fmt.Errorf("%s: %w: it was changed since this node sealed it: use another copy, and find out who "+
			"could write where backups are kept", path, ErrBackupSealMismatch)
	}
	return nil
}

func sealAAD(path string) []byte { return []byte(backupSealAAD + filepath.Base(path)) }

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
