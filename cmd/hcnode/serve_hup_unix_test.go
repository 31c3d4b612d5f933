//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// TestServeReadsTheMetricsTokenAgainOnSIGHUP: serve read the metrics
// token once, and SIGHUP (systemctl reload) reloaded only the TLS
// certificate: a token rotated in metrics_token_file was refused until a
// restart. A SIGHUP now makes /metrics ask for the token the file holds.
func TestServeReadsTheMetricsTokenAgainOnSIGHUP(t *testing.T) {
	// The test sends SIGHUP to its own process: a channel of its own
	// keeps the signal from ending the test binary before, or after,
	// serve listens for it.
	hup := make(chan os.Signal, 16)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dir := filepath.Join(t.TempDir(), "gd")
	if out, err := run(t, "init", "--province", "440000", "--name", "Guangdong", "--data", dir, "--listen", "127.0.0.1:0",
		"--metrics-listen", ""); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	t.Setenv("HCNODE_NATS_URLS", "nats://127.0.0.1:1")
	logs := &testkit.Buffer{}
	root := newRoot(logs, logs)
	root.SetArgs([]string{"serve", "--config", filepath.Join(dir, "hcnode.yaml")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	started := regexp.MustCompile(`"msg":"node started","url":"(http://[^"]+)"`)
	var url string
	testkit.WaitFor(t, 10*time.Second, 10*time.Millisecond, "serve to start", func() error {
		m := started.FindStringSubmatch(logs.String())
		if m == nil {
			return fmt.Errorf("not started:\n%s", logs.String())
		}
		url = m[1] + "/metrics"
		return nil
	})
	status := func(token string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	rotated := strings.Repeat("h", 44)
	if err := os.WriteFile(filepath.Join(dir, config.DefaultMetricsTokenFile), []byte(rotated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := status(rotated); err != nil || st != http.StatusUnauthorized {
		t.Fatalf("the rotated token before SIGHUP: HTTP %d (%v), want 401", st, err)
	}
	// Sent until it is taken: serve listens for SIGHUP only once started.
	testkit.WaitFor(t, 10*time.Second, 20*time.Millisecond, "the rotated token to be taken on SIGHUP", func() error {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			return err
		}
		if st, err := status(rotated); err != nil || st != http.StatusOK {
			return fmt.Errorf("HTTP %d (%v)", st, err)
		}
		return nil
	})
	if !strings.Contains(logs.String(), `"msg":"metrics token reloaded: /metrics asks for the new one"`) {
		t.Errorf("the reload was not logged:\n%s", logs.String())
	}
}
