package daemon_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// standaloneConfig is a province node's config on free loopback ports,
// without a reachable NATS (the node starts all the same).
func standaloneConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(t.TempDir(), "gd")
	cfg.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	return cfg
}

// startStandalone initialises and starts the node cfg describes until
// the test ends, logging in JSON to the buffer it returns.
func startStandalone(t *testing.T, cfg config.Config) (*daemon.Daemon, *testkit.Buffer) {
	t.Helper()
	if _, err := daemon.Init(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, logs
}

// TestMetricsAreServedOnlyOnMetricsListen: with metrics_listen set, GET
// /metrics on the public listener answers 404 — the per-province counts
// (verifications by issuer and reason, refusals) are no longer served to
// whoever reaches the node — and 200 on the metrics listener, which
// serves nothing else; /healthz and /readyz stay public. Before, the
// public listener served /metrics to anyone.
func TestMetricsAreServedOnlyOnMetricsListen(t *testing.T) {
	t.Parallel()
	cfg := standaloneConfig(t)
	cfg.MetricsListen = "127.0.0.1:0"
	d, logs := startStandalone(t, cfg)

	if st, body := httpDo(t, "GET", d.URL+"/metrics", "", nil); st != 404 || strings.Contains(body, "hcfed_") {
		t.Errorf("GET /metrics on the public listener: HTTP %d %.200s, want 404 without metrics", st, body)
	}
	if !strings.HasPrefix(d.MetricsURL, "http://127.0.0.1:") || strings.HasPrefix(d.MetricsURL, d.URL) {
		t.Fatalf("MetricsURL %q, want a loopback listener other than %s", d.MetricsURL, d.URL)
	}
	if st, body := httpDo(t, "GET", d.MetricsURL, "", nil); st != 200 || !strings.Contains(body, "hcfed_http_requests_total") {
		t.Errorf("GET %s: HTTP %d %.200s, want 200 with the node's metrics", d.MetricsURL, st, body)
	}
	if st, _ := httpDo(t, "GET", d.URL+"/healthz", "", nil); st != 200 {
		t.Errorf("GET /healthz on the public listener: HTTP %d, want 200", st)
	}
	if st, _ := httpDo(t, "GET", d.URL+"/readyz", "", nil); st == 404 {
		t.Errorf("GET /readyz on the public listener: 404, want it served (200 or 503)")
	}
	metricsBase := strings.TrimSuffix(d.MetricsURL, "/metrics")
	for _, path := range []string{"/healthz", "/readyz", "/v1/privacy", "/"} {
		if st, _ := httpDo(t, "GET", metricsBase+path, "", nil); st != 404 {
			t.Errorf("GET %s on the metrics listener: HTTP %d, want 404 (it serves /metrics only)", path, st)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"metrics are served on metrics_listen only","metrics_url":"`+d.MetricsURL+`"`) {
		t.Errorf("the start did not log where metrics are served:\n%s", logs.String())
	}
}

// TestWithoutMetricsListenTheMetricsTokenGuardsMetricsOnListen: a
// node without metrics_listen, with metrics_token_file (written by Init),
// serves /metrics on its public listener only to a request carrying the
// token: 401 metrics_token_required without it or with another; and the
// start says so. Before, a node without metrics_listen served /metrics
// there to anyone.
func TestWithoutMetricsListenTheMetricsTokenGuardsMetricsOnListen(t *testing.T) {
	t.Parallel()
	cfg := standaloneConfig(t)
	cfg.MetricsTokenFile = config.DefaultMetricsTokenFile
	d, logs := startStandalone(t, cfg)
	token, err := config.ReadMetricsToken(filepath.Join(cfg.DataDir, config.DefaultMetricsTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if d.MetricsURL != d.URL+"/metrics" {
		t.Errorf("MetricsURL %q, want %s/metrics", d.MetricsURL, d.URL)
	}
	for who, tok := range map[string]string{"no token": "", "another token": strings.Repeat("A", 44)} {
		if st, body := httpDo(t, "GET", d.MetricsURL, tok, nil); st != 401 || !strings.Contains(body, `"code":"metrics_token_required"`) ||
			strings.Contains(body, "hcfed_") {
			t.Errorf("GET /metrics with %s: HTTP %d %.200s, want 401 metrics_token_required", who, st, body)
		}
	}
	if st, body := httpDo(t, "GET", d.MetricsURL, token, nil); st != 200 || !strings.Contains(body, "hcfed_http_requests_total") {
		t.Errorf("GET /metrics with the token: HTTP %d %.200s, want 200 with the node's metrics", st, body)
	}
	if !strings.Contains(logs.String(), `"level":"INFO","msg":"metrics are served on the public listener, only with the bearer token of metrics_token_file","metrics_url":"`+d.URL+`/metrics"`) {
		t.Errorf("the start did not log where metrics are served:\n%s", logs.String())
	}
}

// TestWithNeitherMetricsListenNorATokenMetricsAreServedNowhere: a config
// written before metrics_listen, with no metrics_token_file either, keeps
// starting, and its public listener answers /metrics 404
// metrics_not_public; the start warns, naming both settings.
func TestWithNeitherMetricsListenNorATokenMetricsAreServedNowhere(t *testing.T) {
	t.Parallel()
	d, logs := startStandalone(t, standaloneConfig(t))
	if d.MetricsURL != "" {
		t.Errorf("MetricsURL %q, want none", d.MetricsURL)
	}
	if st, body := httpDo(t, "GET", d.URL+"/metrics", "", nil); st != 404 || !strings.Contains(body, `"code":"metrics_not_public"`) ||
		strings.Contains(body, "hcfed_") {
		t.Errorf("GET /metrics: HTTP %d %.200s, want 404 metrics_not_public", st, body)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"metrics are served nowhere: the public listener answers /metrics 404 `+
		`metrics_not_public; set metrics_listen (such as 127.0.0.1:9464) to serve them on a listener of its own, or metrics_token_file`) {
		t.Errorf("the start did not warn that metrics are served nowhere:\n%s", logs.String())
	}
}

// TestAVerifierReplicaServesMetricsOnlyOnMetricsListenOrToItsToken: a
// verifier replica answers every route but its own with 403
// role_verifier; with metrics_listen set, its public /metrics is a 404
// metrics_not_public as at home, and its metrics are on the metrics
// listener; with metrics_token_file instead, its public /metrics asks
// for the token, as at home, and for a rotated one once reloaded.
func TestAVerifierReplicaServesMetricsOnlyOnMetricsListenOrToItsToken(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, change func(*config.Config)) *daemon.Verifier {
		cfg := config.Default("440000")
		cfg.Role, cfg.DataDir, cfg.Listen = config.RoleVerifier, filepath.Join(t.TempDir(), "v1"), "127.0.0.1:0"
		cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
		cfg.Replica = config.Replica{Home: "http://127.0.0.1:1", Token: "rp_token", Refresh: time.Second, MaxStale: time.Minute,
			SendEvery: time.Second}
		change(&cfg)
		v, err := daemon.StartVerifier(context.Background(), cfg, daemon.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v
	}
	t.Run("metrics_listen", func(t *testing.T) {
		t.Parallel()
		v := start(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
		if st, body := httpDo(t, "GET", v.URL+"/metrics", "", nil); st != 404 || !strings.Contains(body, `"code":"metrics_not_public"`) {
			t.Errorf("GET /metrics on the replica's public listener: HTTP %d %.200s, want 404 metrics_not_public", st, body)
		}
		if st, body := httpDo(t, "GET", v.MetricsURL, "", nil); st != 200 || !strings.Contains(body, "hcfed_http_requests_total") {
			t.Errorf("GET %s: HTTP %d %.200s, want 200 with the replica's metrics", v.MetricsURL, st, body)
		}
	})
	t.Run("metrics_token_file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		v := start(t, func(c *config.Config) { c.MetricsTokenFile = filepath.Join(dir, writeToken(t, dir, "m.token", 0o600)) })
		if v.MetricsURL != v.URL+"/metrics" {
			t.Errorf("MetricsURL %q, want %s/metrics", v.MetricsURL, v.URL)
		}
		if st, body := httpDo(t, "GET", v.MetricsURL, "", nil); st != 401 || !strings.Contains(body, `"code":"metrics_token_required"`) {
			t.Errorf("GET /metrics without the token: HTTP %d %.200s, want 401 metrics_token_required", st, body)
		}
		if st, body := httpDo(t, "GET", v.MetricsURL, strings.Repeat("t", 44), nil); st != 200 || !strings.Contains(body, "hcfed_http_requests_total") {
			t.Errorf("GET /metrics with the token: HTTP %d %.200s, want 200 with the replica's metrics", st, body)
		}
		// A token rotated in the file is asked for once reloaded (SIGHUP).
		rotated := strings.Repeat("r", 44)
		if err := os.WriteFile(filepath.Join(dir, "m.token"), []byte(rotated), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := v.Reload(); err != nil {
			t.Fatal(err)
		}
		if st, _ := httpDo(t, "GET", v.MetricsURL, rotated, nil); st != 200 {
			t.Errorf("GET /metrics with the rotated token once reloaded: HTTP %d, want 200", st)
		}
	})
}

// TestStartRefusesABadMetricsListenOrAPublicListenerWithoutPublicURL:
// the config's refusals reach a start: metrics_listen on listen's port,
// a metrics token beside metrics_listen, missing or readable by every
// user, and a node others reach (listen not loopback) without
// public_url, are refused naming the key and what to do, before
// anything is bound. A
// listener given to Start that is not loopback is refused alike when
// public_url is unset: the links would otherwise name an address only
// the node knows or, before, the Host a request sent.
func TestStartRefusesABadMetricsListenOrAPublicListenerWithoutPublicURL(t *testing.T) {
	t.Parallel()
	cfg := standaloneConfig(t)
	if _, err := daemon.Init(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		change func(*config.Config)
		want   string
	}{
		"metrics on listen's port": {func(c *config.Config) { c.Listen, c.MetricsListen = "127.0.0.1:8088", ":8088" },
			`config: metrics_listen: ":8088" takes the port of listen ("127.0.0.1:8088"): metrics need a listener of their own`},
		"metrics address": {func(c *config.Config) { c.MetricsListen = "127.0.0.1" },
			`config: metrics_listen: "127.0.0.1" must be a host and port such as 127.0.0.1:8080`},
		"public listen without public_url": {func(c *config.Config) { c.Listen = "0.0.0.0:0" },
			`config: public_url: required when listen ("0.0.0.0:0") is not a loopback address`},
		"metrics token and metrics_listen": {func(c *config.Config) { c.MetricsListen, c.MetricsTokenFile = "127.0.0.1:0", "metrics.token" },
			`config: metrics_token_file: "metrics.token" is set with metrics_listen ("127.0.0.1:0")`},
		"metrics token missing": {func(c *config.Config) { c.MetricsTokenFile = "none.token" },
			"metrics_token_file: " + filepath.Join(cfg.DataDir, "none.token") + " is missing: write a token into it"},
		"metrics token readable by all": {func(c *config.Config) { c.MetricsTokenFile = writeToken(t, cfg.DataDir, "open.token", 0o644) },
			"metrics_token_file: " + filepath.Join(cfg.DataDir, "open.token") + " is readable by every user of this machine"},
	} {
		t.Run(name, func(t *testing.T) {
			c := cfg
			tc.change(&c)
			d, err := daemon.Start(context.Background(), c, daemon.Options{})
			if err == nil {
				d.Close()
				t.Fatal("started")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("refused with %q\nwant %s", err, tc.want)
			}
		})
	}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Listener: l})
	if err == nil {
		d.Close()
		t.Fatal("started on a listener on every address without public_url")
	}
	l.Close()
	if want := "config: public_url: required when the node listens on " + l.Addr().String() + ", which is not a loopback address"; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("refused with %q\nwant %s", err, want)
	}
}

// writeToken writes a metrics token of 44 characters to dir/name with
// mode, and returns its name.
func writeToken(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Repeat("t", 44)), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestListenersAreLoggedAsConfigured: a node told to listen on 0.0.0.0
// logs its URLs with 0.0.0.0, as its config says, and they answer.
// Before, Go's name for that socket, [::], stood in the log.
func TestListenersAreLoggedAsConfigured(t *testing.T) {
	t.Parallel()
	cfg := standaloneConfig(t)
	cfg.Listen, cfg.MetricsListen = "0.0.0.0:0", "0.0.0.0:0"
	cfg.PublicURL = "https://hc.example.gov.cn"
	d, logs := startStandalone(t, cfg)
	for _, u := range []string{d.URL, d.MetricsURL} {
		if !strings.HasPrefix(u, "http://0.0.0.0:") {
			t.Errorf("URL %q, want http://0.0.0.0:PORT", u)
		}
		if !strings.Contains(logs.String(), u) {
			t.Errorf("%s is not in the log:\n%s", u, logs.String())
		}
	}
	if st, _ := httpDo(t, "GET", d.URL+"/healthz", "", nil); st != 200 {
		t.Errorf("GET %s/healthz: HTTP %d", d.URL, st)
	}
	if st, _ := httpDo(t, "GET", d.MetricsURL, "", nil); st != 200 {
		t.Errorf("GET %s: HTTP %d", d.MetricsURL, st)
	}
}
