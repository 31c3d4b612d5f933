package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpensOnlyWithSameKeyAndAAD(t *testing.T) {
	k, err := NewKey(NewKeyMaterial())
	if err != nil {
		t.Fatal(err)
	}
	ct := k.Seal([]byte("subject:1:name"), []byte("张三"))
	if bytes.Contains(ct, []byte("张三")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	pt, err := k.Open([]byte("subject:1:name"), ct)
	if err != nil || string(pt) != "张三" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k.Open([]byte("subject:2:name"), ct); !errors.Is(err, ErrOpen) {
		t.Fatalf("moved ciphertext opened: %v", err)
	}
	other, _ := NewKey(NewKeyMaterial())
	if _, err := other.Open([]byte("subject:1:name"), ct); !errors.Is(err, ErrOpen) {
		t.Fatalf("other key opened: %v", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := k.Open([]byte("subject:1:name"), ct); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered ciphertext opened: %v", err)
	}
	if _, err := k.Open(nil, []byte{1, 2}); !errors.Is(err, ErrOpen) {
		t.Fatalf("short ciphertext: %v", err)
	}
}

func TestKEKFileRoundTripAndRules(t *testing.T) {
	t.Setenv(EnvKEK, "")
	path := filepath.Join(t.TempDir(), "kek")
	if err := WriteKEKFile(path); err != nil {
		t.Fatal(err)
	}
	if err := WriteKEKFile(path); err == nil {
		t.Fatal("overwrote an existing KEK file")
	}
	k, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(nil, k.Seal(nil, []byte("x"))); err != nil {
		t.Fatal("same file gave different keys")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEK(path); err == nil {
		t.Fatal("accepted a world-readable KEK file")
	}
	if _, err := LoadKEK(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("accepted a missing KEK file")
	}
}

// A missing KEK file of an existing node is a custody problem, not a
// reason to make a new one: the refusal said "create one with 'hcnode
// init'", which cannot open the node's keys (and init refuses an
// initialised node). It now says what the file is and to put the kept
// copy back, and still wraps fs.ErrNotExist.
func TestMissingKEKFileSaysToPutTheKeptCopyBack(t *testing.T) {
	t.Setenv(EnvKEK, "")
	path := filepath.Join(t.TempDir(), "kek.key")
	_, err := LoadKEK(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKEK of a missing file: %v, want it to wrap fs.ErrNotExist", err)
	}
	for _, want := range []string{path + " is missing", "no new one can open them", "Put back the copy kept in custody", "$" + EnvKEK} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LoadKEK of a missing file: %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "create one") {
		t.Errorf("LoadKEK of a missing file: %q tells the operator to create a KEK", err)
	}
}

// TestUnreadableKEKFileSaysWhoseItMustBe: a KEK file the node's user may
// not read (init ran as root, the node runs as hcnode) is refused saying
// which user must own it; before, "seal: KEK file: open …: permission
// denied". Root reads any file, so the refusal itself is provoked only
// when the test runs as another user; its words are checked always.
func TestUnreadableKEKFileSaysWhoseItMustBe(t *testing.T) {
	t.Setenv(EnvKEK, "")
	path := filepath.Join(t.TempDir(), "kek.key")
	err := kekReadError(path, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission})
	if os.Geteuid() != 0 {
		if werr := WriteKEKFile(path); werr != nil {
			t.Fatal(werr)
		}
		if cerr := os.Chmod(path, 0o200); cerr != nil {
			t.Fatal(cerr)
		}
		_, err = LoadKEK(path)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("an unreadable KEK file: %v, want it to wrap fs.ErrPermission", err)
	}
	for _, want := range []string{path + " cannot be read by this user (uid ", "make that user own the file, keeping mode 0600",
		"chown hcnode: " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("an unreadable KEK file: %q lacks %q", err, want)
		}
	}
}

func TestKEKFromEnvironment(t *testing.T) {
	t.Setenv(EnvKEK, "not base64!")
	if _, err := LoadKEK(""); err == nil {
		t.Fatal("accepted a malformed KEK")
	}
	t.Setenv(EnvKEK, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if _, err := LoadKEK(""); err != nil {
		t.Fatalf("valid env KEK refused: %v", err)
	}
}
