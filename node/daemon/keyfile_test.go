package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
)

// ReadKeyFile accepted a key on any curve: an operator's P-384 key was
// refused only when it signed ("sign: not a P-256 key"), a sentence that
// names no file. It is now refused at load, naming the file and the
// curve wanted; a P-256 key still loads.
func TestReadKeyFileRefusesAKeyNotOnP256(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		curve elliptic.Curve
		ok    bool
	}{{elliptic.P256(), true}, {elliptic.P384(), false}, {elliptic.P521(), false}} {
		name := c.curve.Params().Name
		key, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".key")
		if err := WriteKeyFile(path, key); err != nil {
			t.Fatal(err)
		}
		got, err := ReadKeyFile(path)
		if c.ok {
			if err != nil || !got.Equal(key) {
				t.Errorf("%s: ReadKeyFile: %v", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: ReadKeyFile accepted the key", name)
			continue
		}
		for _, want := range []string{path, name, "P-256"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refusal %q does not say %q", name, err, want)
			}
		}
	}
}
