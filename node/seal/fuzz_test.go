package seal

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadKEK: a KEK file is accepted only if, trimmed, it is standard
// base64 of exactly KeyLen bytes, and then the key seals and opens as
// those bytes do; a refusal never echoes the file's text, which may be
// most of a secret key.
func FuzzLoadKEK(f *testing.F) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, KeyLen))
	for _, s := range []string{good + "\n", " " + good + " \r\n", good[:len(good)-1], strings.TrimRight(good, "="),
		base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, KeyLen)), base64.StdEncoding.EncodeToString(make([]byte, KeyLen+1)), ""} {
		f.Add(s)
	}
	if _, ok := os.LookupEnv(EnvKEK); ok {
		f.Skipf("%s is set: LoadKEK would read it instead of the file", EnvKEK)
	}
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "kek.key")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadKEK(path)
		if err != nil {
			if secret := strings.TrimSpace(text); len(secret) >= 8 && strings.Contains(err.Error(), secret[:8]) {
				t.Fatalf("refusal echoes the file: %v", err)
			}
			return
		}
		raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if derr != nil || len(raw) != KeyLen {
			t.Fatalf("accepted %q, which is not %d bytes of standard base64", text, KeyLen)
		}
		same, err := NewKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		sealed := k.Seal([]byte("aad"), []byte("data"))
		if out, err := same.Open([]byte("aad"), sealed); err != nil || string(out) != "data" {
			t.Fatalf("the loaded key is not the file's key: %v", err)
		}
	})
}
