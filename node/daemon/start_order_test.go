package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// busyAddr is a loopback address another program holds until the test
// ends.
func busyAddr(t *testing.T) string {
	t.Helper()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	return busy.Addr().String()
}

// TestServeRefusesAPortInUseBeforeStartingNATS: 'hcnode serve' with its
// HTTP port, or its embedded NATS server's, taken refuses naming the
// setting to change, and before it starts anything: no embedded NATS
// server started (its store directory was never made, nats-server never
// logged). Before, the embedded server started, made its JetStream
// store, and was stopped again; with its own port taken, the start
// waited 10 s and ended in nats-server's words.
func TestServeRefusesAPortInUseBeforeStartingNATS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, setting string
		take          func(cfg *config.Config, busy string)
	}{
		{"http", "listen (HCNODE_LISTEN)", func(cfg *config.Config, busy string) { cfg.Listen = busy }},
		{"nats", "nats.listen (HCNODE_NATS_LISTEN)", func(cfg *config.Config, busy string) { cfg.NATS.Listen = busy }},
		{"metrics", "metrics_listen (HCNODE_METRICS_LISTEN)", func(cfg *config.Config, busy string) { cfg.MetricsListen = busy }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default("440000")
			cfg.DataDir = filepath.Join(t.TempDir(), "gd")
			cfg.Listen = "127.0.0.1:0"
			cfg.NATS.Embedded, cfg.NATS.Listen = true, "127.0.0.1:0"
			if _, err := daemon.Init(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			busy := busyAddr(t)
			tc.take(&cfg, busy)
			var logs testkit.Buffer
			d, err := daemon.Start(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err == nil {
				d.Close()
				t.Fatal("serve started on a port in use")
			}
			if !strings.Contains(err.Error(), busy+": the address is already in use by another program") ||
				!strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("refused with %q, want the address and %s named", err, tc.setting)
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "nats")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the embedded NATS server's store exists (%v): it was started", err)
			}
			if strings.Contains(logs.String(), "nats-server") {
				t.Errorf("nats-server logged, so it was started:\n%s", logs.String())
			}
		})
	}
}

// TestDemoRefusesAPortInUseBeforeStartingAnything: a demo (a cluster)
// whose third province's port is taken refuses, naming the province, with
// nothing started or written: no NATS server, no province initialised.
// Before, the NATS server had started and every province was initialised
// before the port was tried.
func TestDemoRefusesAPortInUseBeforeStartingAnything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	provinces := append([]daemon.Province(nil), threeProvinces...)
	provinces[0].Listen, provinces[1].Listen, provinces[2].Listen = freeAddr(t), freeAddr(t), busyAddr(t)
	var logs testkit.Buffer
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: dir, Provinces: provinces,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err == nil {
		c.Close()
		t.Fatal("the demo started with a port in use")
	}
	if !strings.Contains(err.Error(), "Beijing") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("refused with %q", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the refused demo left %v in its directory", left)
	}
	if strings.Contains(logs.String(), "nats-server") {
		t.Errorf("nats-server logged, so it was started:\n%s", logs.String())
	}
	// The addresses it bound for the first two were given back.
	for _, p := range provinces[:2] {
		l, err := net.Listen("tcp", p.Listen)
		if err != nil {
			t.Fatalf("%s's address is still held after the refusal: %v", p.Name, err)
		}
		l.Close()
	}
}

// freeAddr is a loopback address free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestVerifierRefusesAPortInUseBeforeMakingAnything: a verifier replica
// with its HTTP port taken refuses before it makes its KEK or its
// database. Before, both were made first.
func TestVerifierRefusesAPortInUseBeforeMakingAnything(t *testing.T) {
	t.Parallel()
	cfg := config.Default("440000")
	cfg.Role, cfg.DataDir, cfg.Listen = config.RoleVerifier, filepath.Join(t.TempDir(), "v1"), busyAddr(t)
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	cfg.Replica = config.Replica{Home: "http://127.0.0.1:1", Token: "rp_token", Refresh: time.Second, MaxStale: time.Minute,
		SendEvery: time.Second}
	v, err := daemon.StartVerifier(context.Background(), cfg, daemon.Options{})
	if err == nil {
		v.Close()
		t.Fatal("the verifier started on a port in use")
	}
	if !strings.Contains(err.Error(), "already in use by another program") {
		t.Fatalf("refused with %q", err)
	}
	for _, path := range []string{cfg.KEKPath(), cfg.ReplicaDBPath()} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was made (%v)", path, err)
		}
	}
}

// TestServeStartsWithNATSOnAPortNATSChooses: nats.listen with port 0,
// or nats-server's own "-1" (the demo's NATS address), lets the
// embedded server choose a free port; the port probe has nothing to
// bind for either. "-1" was refused by the probe ("invalid port"),
// though the embedded server takes it.
func TestServeStartsWithNATSOnAPortNATSChooses(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"127.0.0.1:0", "127.0.0.1:-1"} {
		t.Run(listen, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default("440000")
			cfg.DataDir = filepath.Join(t.TempDir(), "gd")
			cfg.Listen = "127.0.0.1:0"
			cfg.NATS.Embedded, cfg.NATS.Listen = true, listen
			if _, err := daemon.Init(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			d, err := daemon.Start(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatalf("serve with nats.listen %s: %v", listen, err)
			}
			d.Close()
		})
	}
}

// TestVerifierRefusesAHomeOfAnotherProvince: a verifier replica whose
// replica.home is another province's home node refuses to start, naming
// replica.home and both provinces. Before, it started, and its refreshes
// failed in the log only.
func TestVerifierRefusesAHomeOfAnotherProvince(t *testing.T) {
	t.Parallel()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/replica/status" {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"province":"310000","name":"gd-verify-1","fingerprint":"","confirmed_fingerprint":"","trusted":false}`))
	}))
	t.Cleanup(home.Close)
	cfg := config.Default("440000")
	cfg.Role, cfg.DataDir, cfg.Listen = config.RoleVerifier, filepath.Join(t.TempDir(), "v1"), "127.0.0.1:0"
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	cfg.Replica = config.Replica{Home: home.URL, Token: "hct_token", Refresh: time.Second, MaxStale: time.Minute,
		SendEvery: time.Second}
	v, err := daemon.StartVerifier(context.Background(), cfg, daemon.Options{})
	if err == nil {
		v.Close()
		t.Fatal("the verifier started under a home node of another province")
	}
	for _, want := range []string{"replica.home (" + home.URL + ")", "province 310000", "this replica's province is 440000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refused with %q, want it to say %q", err, want)
		}
	}
}
