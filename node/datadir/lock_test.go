package datadir_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/datadir"
)

func TestSecondLockIsRefusedAndNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := datadir.Acquire(dir, "serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = datadir.Acquire(dir, "sunset")
	if !errors.Is(err, datadir.ErrLocked) {
		t.Fatalf("second lock: got %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "hcnode serve (pid") {
		t.Fatalf("error does not name the holder: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := datadir.Acquire(dir, "sunset")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	defer l2.Unlock()
	if fi, err := os.Stat(filepath.Join(dir, datadir.LockFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode: %v %v", fi.Mode(), err)
	}
}

// TestLockHeldByAnotherProcess holds the lock in a child process (this
// test binary, re-run as a helper) and checks that this process is
// refused, then admitted once the child has exited.
func TestLockHeldByAnotherProcess(t *testing.T) {
	if os.Getenv("DATADIR_HOLD") != "" {
		l, err := datadir.Acquire(os.Getenv("DATADIR_HOLD"), "serve")
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		// Hold until the parent closes our stdin.
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		_ = l
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), "DATADIR_HOLD="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 5)
	if _, err := stdout.Read(line); err != nil || string(line) != "held\n" {
		t.Fatalf("child did not take the lock: %q %v", line, err)
	}
	_, err := datadir.Acquire(dir, "sunset")
	if !errors.Is(err, datadir.ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("lock held by a child process: got %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	l, err := datadir.Acquire(dir, "sunset")
	if err != nil {
		t.Fatalf("after the holder exited: %v", err)
	}
	l.Unlock()
}

// TestHolderNamesTheHolderAndTakesNothing: Holder names the process that
// holds a directory, creates no lock file where there is none, and
// leaves the lock free for the next Acquire.
func TestHolderNamesTheHolderAndTakesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, held, err := datadir.Holder(dir); err != nil || held {
		t.Fatalf("Holder of a directory never locked: held %v, %v", held, err)
	}
	if _, err := os.Stat(filepath.Join(dir, datadir.LockFile)); !os.IsNotExist(err) {
		t.Fatalf("Holder created the lock file: %v", err)
	}
	l, err := datadir.Acquire(dir, "serve")
	if err != nil {
		t.Fatal(err)
	}
	holder, held, err := datadir.Holder(dir)
	if err != nil || !held || !strings.HasPrefix(holder, "hcnode serve (pid") {
		t.Fatalf("Holder beside serve: %q %v %v", holder, held, err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := datadir.Holder(dir); err != nil || held {
		t.Fatalf("Holder after Unlock: held %v, %v", held, err)
	}
	l, err = datadir.Acquire(dir, "serve")
	if err != nil {
		t.Fatalf("Acquire after Holder: %v", err)
	}
	l.Unlock()
}
