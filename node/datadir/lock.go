package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LockFile is the name of the lock file inside a data directory.
const LockFile = "hcnode.lock"

// ErrLocked is returned by Lock when another process holds the directory.
var ErrLocked = errors.New("data directory is in use")

// Lock is a held lock on a data directory. Release it with Unlock.
type Lock struct {
	f *os.File
}

// Acquire takes the exclusive lock on dir for this process, creating dir's
// lock file if needed, and records who holds it (purpose, process id,
// since when). If another process holds it, Acquire fails at once with an
// error that wraps ErrLocked and names the holder.
func Acquire(dir, purpose string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "another process"
			}
			return nil, fmt.Errorf("%w: %s holds %s; stop it first", ErrLocked, h, dir)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	info := fmt.Sprintf("hcnode %s (pid %d, since %s)\n", purpose, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock. The lock file stays; it is only a handle.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := errors.Join(unlock(l.f), l.f.Close())
	l.f = nil
	return err
}

// Holder reports whether a process holds dir's lock and, if so, who (as
// Acquire recorded it: "hcnode serve (pid 123, since ...)"). It is for a
// preflight beside a node that may be running, so it never takes the lock
// in a way that could stop that node: it opens the lock file read-only,
// never creating it or the directory, and tries a shared lock without
// waiting, which it releases at once. Only a node starting in that very
// instant is refused, as if the directory were in use, and can be
// started again.
func Holder(dir string) (holder string, held bool, err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	defer f.Close()
	if err := tryShared(f); err != nil {
		if !errors.Is(err, errWouldBlock) {
			return "", false, fmt.Errorf("data directory lock %s: %w", path, err)
		}
		b, _ := os.ReadFile(path)
		if holder = strings.TrimSpace(string(b)); holder == "" {
			holder = "another process"
		}
		return holder, true, nil
	}
	return "", false, unlock(f)
}
