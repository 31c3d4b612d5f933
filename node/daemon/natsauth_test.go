package daemon_test

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// TestNodeLogsRefusedNATSCredentialsAsAnErrorWithItsDelay starts a node
// whose NATS password the shipped server configuration refuses: it keeps
// serving and retrying, and says at error level that its credentials
// were refused (not that NATS is unreachable), with the delay before the
// next attempt as a duration ("1.2s"), not nanoseconds.
func TestNodeLogsRefusedNATSCredentialsAsAnErrorWithItsDelay(t *testing.T) {
	logs := guangdongWithNATSUser(t, "440000", func(map[string]string) string { return "not-the-password" })

	refusals := func() []map[string]any {
		var out []map[string]any
		for _, rec := range logs.lines(t) {
			if msg, _ := rec["msg"].(string); strings.Contains(msg, "NATS refused this node's credentials") {
				out = append(out, rec)
			}
		}
		return out
	}
	waitFor(t, "two logged refusals of the node's NATS credentials", func() error {
		if n := len(refusals()); n < 2 {
			return fmt.Errorf("%d logged", n)
		}
		return nil
	})
	for _, rec := range refusals() {
		if rec["level"] != "ERROR" {
			t.Errorf("refusal logged at %v, want ERROR", rec["level"])
		}
		s, ok := rec["retry_in"].(string)
		if !ok {
			t.Fatalf("retry_in = %#v, want a duration string", rec["retry_in"])
		}
		if d, err := time.ParseDuration(s); err != nil || d <= 0 || d > 10*time.Second {
			t.Errorf("retry_in = %q (%v, %v), want a positive duration within the policy", s, d, err)
		}
		if e, _ := rec["err"].(string); !strings.Contains(e, `refused user "440000"`) || strings.Contains(e, "not-the-password") {
			t.Errorf("err = %q: want the refused user, never the password", e)
		}
	}
	for _, rec := range logs.lines(t) {
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "not reachable") {
			t.Errorf("a refused password logged as %q", msg)
		}
	}
}

// TestNodeLogsAnotherProvincesNATSCredentials starts Guangdong's node
// with Shanghai's user and password of the shipped server configuration,
// which the server takes: the node says at error level that these are
// another province's credentials, rather than that its reply inbox was
// refused or that the federation operator must set up the streams.
func TestNodeLogsAnotherProvincesNATSCredentials(t *testing.T) {
	logs := guangdongWithNATSUser(t, "310000", func(pw map[string]string) string { return pw["310000"] })

	waitFor(t, "the logged refusal of another province's credentials", func() error {
		for _, rec := range logs.lines(t) {
			msg, _ := rec["msg"].(string)
			if !strings.Contains(msg, "NATS took this node's credentials as another province's user") {
				continue
			}
			if e, _ := rec["err"].(string); rec["level"] != "ERROR" || !strings.Contains(e, `accepted user "310000", but not as province 440000's user`) {
				return fmt.Errorf("logged at %v with err %q", rec["level"], e)
			}
			return nil
		}
		return fmt.Errorf("not logged")
	})
	for _, rec := range logs.lines(t) {
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "reply inbox") || strings.Contains(msg, "streams missing") {
			t.Errorf("another province's credentials logged as %q", msg)
		}
	}
}

// guangdongWithNATSUser starts a NATS server with the shipped
// configuration, every user's password made up for the test, and
// Guangdong's node on it as user with the password password picks from
// those; it returns the node's JSON log.
func guangdongWithNATSUser(t *testing.T, user string, password func(pw map[string]string) string) *syncBuffer {
	t.Helper()
	pw := map[string]string{}
	for _, u := range []string{"OPERATOR", "440000", "310000", "110000"} {
		pw[u] = rand.Text()
		t.Setenv("HCFED_NATS_"+u+"_PASSWORD", pw[u])
	}
	srv, err := federation.StartServer(federation.ServerConfig{Port: -1, StoreDir: t.TempDir(),
		ConfigFile: "../../configs/nats-server.conf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	cfg := config.Default("440000")
	cfg.Name, cfg.DataDir = "Guangdong", filepath.Join(t.TempDir(), "gd")
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{srv.ClientURL()}
	cfg.NATS.User, cfg.NATS.Password = user, password(pw)
	logs := &syncBuffer{}
	initAndStart(t, cfg, daemon.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	return logs
}
