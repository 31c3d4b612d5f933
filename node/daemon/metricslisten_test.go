package daemon_test

import (
	"context"
	"log/slog"
	"net"
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

// TestAConfigWithoutMetricsListenServesMetricsAsBefore: a config written
// before metrics_listen existed keeps working — /metrics on the public
// listener — and the start says so in a warning that names the setting.
func TestAConfigWithoutMetricsListenServesMetricsAsBefore(t *testing.T) {
	t.Parallel()
	d, logs := startStandalone(t, standaloneConfig(t))
	if d.MetricsURL != d.URL+"/metrics" {
		t.Errorf("MetricsURL %q, want %s/metrics", d.MetricsURL, d.URL)
	}
	if st, body := httpDo(t, "GET", d.URL+"/metrics", "", nil); st != 200 || !strings.Contains(body, "hcfed_http_requests_total") {
		t.Errorf("GET /metrics: HTTP %d %.200s, want 200 with the node's metrics", st, body)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"metrics are served on the public listener, to anyone who reaches the node; set metrics_listen`) ||
		!strings.Contains(logs.String(), `"metrics_url":"`+d.URL+`/metrics"`) {
		t.Errorf("the start did not warn where metrics are served:\n%s", logs.String())
	}
}

// TestAVerifierReplicaServesMetricsOnlyOnMetricsListen: a verifier
// replica answers every route but its own with 403 role_verifier; with
// metrics_listen set, its public /metrics is a 404 as at home, and its
// metrics are on the metrics listener.
func TestAVerifierReplicaServesMetricsOnlyOnMetricsListen(t *testing.T) {
	t.Parallel()
	cfg := config.Default("440000")
	cfg.Role, cfg.DataDir, cfg.Listen = config.RoleVerifier, filepath.Join(t.TempDir(), "v1"), "127.0.0.1:0"
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	cfg.Replica = config.Replica{Home: "http://127.0.0.1:1", Token: "rp_token", Refresh: time.Second, MaxStale: time.Minute,
		SendEvery: time.Second}
	v, err := daemon.StartVerifier(context.Background(), cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if st, body := httpDo(t, "GET", v.URL+"/metrics", "", nil); st != 404 || strings.Contains(body, "hcfed_") {
		t.Errorf("GET /metrics on the replica's public listener: HTTP %d %.200s, want 404", st, body)
	}
	if st, body := httpDo(t, "GET", v.MetricsURL, "", nil); st != 200 || !strings.Contains(body, "hcfed_http_requests_total") {
		t.Errorf("GET %s: HTTP %d %.200s, want 200 with the replica's metrics", v.MetricsURL, st, body)
	}
}

// TestStartRefusesABadMetricsListenOrAPublicListenerWithoutPublicURL:
// the config's refusals reach a start: metrics_listen on listen's port,
// and a node others reach (listen not loopback) without public_url, are
// refused naming the key and what to do, before anything is bound. A
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
