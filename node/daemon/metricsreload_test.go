package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// TestReloadReadsTheMetricsTokenAgainAndKeepsItWhenTheFileIsBad: the
// metrics token was read once, at start: a token rotated in its file
// (and in Prometheus's) was refused until a restart. Reload (SIGHUP)
// now reads the file again, and /metrics asks for the new token from
// the next request on. A file that became empty, readable by every user
// or missing keeps the token in use, and the reload says so in the log
// (naming the file, never a token).
func TestReloadReadsTheMetricsTokenAgainAndKeepsItWhenTheFileIsBad(t *testing.T) {
	t.Parallel()
	cfg := standaloneConfig(t)
	cfg.MetricsTokenFile = config.DefaultMetricsTokenFile
	d, logs := startStandalone(t, cfg)
	path := filepath.Join(cfg.DataDir, config.DefaultMetricsTokenFile)
	first, err := config.ReadMetricsToken(path)
	if err != nil {
		t.Fatal(err)
	}
	status := func(token string) int {
		t.Helper()
		st, _ := httpDo(t, "GET", d.MetricsURL, token, nil)
		return st
	}
	second := strings.Repeat("s", 44)
	if err := os.WriteFile(path, []byte(second+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if a, b := status(first), status(second); a != 200 || b != 401 {
		t.Fatalf("before the reload: HTTP %d with the token read at start, %d with the new one; want 200 and 401", a, b)
	}
	if err := d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if a, b := status(first), status(second); a != 401 || b != 200 {
		t.Fatalf("after the reload: HTTP %d with the old token, %d with the new one; want 401 and 200", a, b)
	}
	if !strings.Contains(logs.String(), `"msg":"metrics token reloaded: /metrics asks for the new one","metrics_token_file":"`+path+`"`) {
		t.Errorf("the reload was not logged:\n%s", logs.String())
	}

	for name, spoil := range map[string]func() error{
		"empty":                 func() error { return os.WriteFile(path, nil, 0o600) },
		"readable by all users": func() error { return os.Chmod(path, 0o644) },
		"missing":               func() error { return os.Remove(path) },
	} {
		if err := os.WriteFile(path, []byte(second), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := spoil(); err != nil {
			t.Fatal(err)
		}
		if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "metrics_token_file: "+path) {
			t.Errorf("reload of a file %s: %v, want an error naming the file", name, err)
		}
		if st := status(second); st != 200 {
			t.Errorf("after the reload of a file %s: HTTP %d with the token in use, want 200 (kept)", name, st)
		}
	}
	if n := strings.Count(logs.String(), `"level":"ERROR","msg":"metrics token reload failed; keeping the one in use","metrics_token_file":"`+path+`"`); n != 3 {
		t.Errorf("%d failed reloads logged, want 3:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), first) || strings.Contains(logs.String(), second) {
		t.Errorf("a metrics token is in the log:\n%s", logs.String())
	}
}
