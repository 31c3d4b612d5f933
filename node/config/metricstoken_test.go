package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The metrics token init writes is 32 random bytes in base64, mode 0600,
// never over a file that is there; reading takes it without its line
// end. A missing file, one every user may read, and a short or
// malformed token are refused naming the setting, the file and what to
// do, never the token.
func TestMetricsTokenIsWrittenPrivateAndReadStrictly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, DefaultMetricsTokenFile)
	if err := WriteMetricsToken(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("written with %v (%v), want mode 0600", fi.Mode().Perm(), err)
	}
	tok, err := ReadMetricsToken(p)
	if err != nil || len(tok) != 44 {
		t.Fatalf("read %q, %v: want 44 characters", tok, err)
	}
	if err := WriteMetricsToken(p); err == nil {
		t.Fatal("a second write overwrote the token")
	}
	if again, _ := ReadMetricsToken(p); again != tok {
		t.Fatalf("the token changed to %q", again)
	}

	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	long := strings.Repeat("k", MinMetricsTokenLen)
	if got, err := ReadMetricsToken(write("spaced", "\n  "+long+" \r\n", 0o640)); err != nil || got != long {
		t.Fatalf("read %q, %v; want %q (mode 0640 shares it with the node's group)", got, err, long)
	}
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"missing": {filepath.Join(dir, "none"), "metrics_token_file: " + filepath.Join(dir, "none") + " is missing: write a token " +
			"into it (head -c 32 /dev/urandom | base64 > " + filepath.Join(dir, "none") + " && chmod 600 " + filepath.Join(dir, "none") +
			") and give Prometheus the same file (authorization: credentials_file), or remove metrics_token_file and set metrics_listen"},
		"every user":  {write("open", long, 0o604), "metrics_token_file: " + filepath.Join(dir, "open") + " is readable by every user of this machine (mode -rw----r--): chmod 600 it"},
		"short":       {write("short", long[1:], 0o600), "metrics_token_file: " + filepath.Join(dir, "short") + " holds no bearer token of at least 32 characters"},
		"empty":       {write("empty", "\n", 0o600), "metrics_token_file: " + filepath.Join(dir, "empty") + " holds no bearer token"},
		"two words":   {write("words", long+" "+long, 0o600), "holds no bearer token"},
		"a directory": {dir, "metrics_token_file: " + dir + " is not a file"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ReadMetricsToken(tc.path)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read %q, %v\nwant %s", got, err, tc.want)
			}
			if strings.Contains(err.Error(), long[1:]) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}
