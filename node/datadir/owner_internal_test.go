//go:build unix

package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A database another user owns fails to open with SQLite's bare "unable
// to open database file": OwnerHint names the files and their owner for
// a process that is not that user, and leaves the error alone for their
// owner and for root.
func TestOwnerHintNamesTheFilesAnotherUserOwns(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "node.db")
	for _, p := range []string{db, db + "-wal"} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	owner := os.Geteuid()
	other := owner + 1000
	open := errors.New("store: open: unable to open database file (14)")

	got := ownerHint(open, other, db, filepath.Join(dir, "keys.db"))
	if !errors.Is(got, open) {
		t.Fatalf("the hint lost the error: %v", got)
	}
	for _, want := range []string{db + " (uid " + strconv.Itoa(owner) + ")", db + "-wal (uid", "chown", "uid " + strconv.Itoa(other)} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("hint %q does not say %q", got, want)
		}
	}
	if strings.Contains(got.Error(), "keys.db") || strings.Contains(got.Error(), "-shm") {
		t.Errorf("hint %q names a file that is not there", got)
	}
	if got := ownerHint(open, owner, db); got != open {
		t.Errorf("for the files' owner: %v, want the error alone", got)
	}
	if got := ownerHint(open, 0, db); got != open {
		t.Errorf("for root: %v, want the error alone", got)
	}
	if got := ownerHint(nil, other, db); got != nil {
		t.Errorf("no error: %v", got)
	}
}
