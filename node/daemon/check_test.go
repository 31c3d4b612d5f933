package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// TestCheckTLSCertificate: the preflight loads the TLS pair as serve
// does, refuses a certificate with another's key, warns of one that
// expires within two weeks and fails one that has expired.
func TestCheckTLSCertificate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default("440000")
	cfg.Name, cfg.DataDir = "Guangdong", filepath.Join(dir, "gd")
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 100, crt, key) // valid for the next hour
	other := filepath.Join(dir, "other.key")
	ca.issue(t, 101, filepath.Join(dir, "other.crt"), other)
	cfgFile := func(keyFile string) string {
		p := filepath.Join(dir, "hcnode.yaml")
		y := "province: \"440000\"\ndata_dir: gd\nlisten: 127.0.0.1:0\nnats:\n  embedded: false\n  urls: [\"nats://127.0.0.1:1\"]\n" +
			"tls:\n  cert_file: tls.crt\n  key_file: " + filepath.Base(keyFile) + "\n"
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tlsLine := func(r daemon.Report) string {
		for _, f := range r {
			if f.What == "tls" {
				return f.String()
			}
		}
		return ""
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		key  string
		at   time.Time
		want string
	}{
		{"expires within two weeks", key, now, "warn  tls: the certificate in " + crt + " (127.0.0.1) expires at "},
		{"expired", key, now.Add(2 * time.Hour), "FAIL  tls: the certificate in " + crt + " (127.0.0.1) expired at "},
		{"key of another certificate", other, now, "FAIL  tls: " + crt + " and " + other + ": tls: private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := daemon.Check(ctx, cfgFile(tc.key), daemon.CheckOptions{Now: func() time.Time { return tc.at }, NATSTimeout: time.Millisecond})
			if got := tlsLine(r); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("tls check: %q, want it to start %q\n%v", got, tc.want, r)
			}
		})
	}
}
