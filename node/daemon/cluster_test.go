package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// Every test here calls t.Parallel unless it changes the process (the
// umask, the environment) or bounds a time tightly: they mostly wait (on
// NATS, on the nodes' timers, on a peer's silence), each has its own
// directories, ports and NATS server, and go test runs two at a time
// (-parallel defaults to GOMAXPROCS).

// federation is a cluster under test with a scanner token per province.
// testClient is the tests' HTTP client. It keeps no connection between
// requests: a test that restarts a node on the same address would
// otherwise send its next POST down a kept connection the old server had
// just closed, and net/http does not retry a POST (EOF, seen under load
// in TestProvinceRootRotationThroughTheTrustList).
var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

type fedTest struct {
	t        *testing.T
	c        *daemon.Cluster
	scanners []string
}

var threeProvinces = []daemon.Province{
	{ID: "440000", Name: "Guangdong", Listen: "127.0.0.1:0"},
	{ID: "310000", Name: "Shanghai", Listen: "127.0.0.1:0"},
	{ID: "110000", Name: "Beijing", Listen: "127.0.0.1:0"},
}

func startFederation(t *testing.T, provinces []daemon.Province, configure func(*config.Config)) *fedTest {
	t.Helper()
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: t.TempDir(), Provinces: provinces,
		Configure: func(cfg *config.Config) {
			cfg.Privacy.Collect = []string{"name", "id_number"}
			cfg.Limits.ScannerRate, cfg.Limits.ScannerBurst = 1000, 1000
			if configure != nil {
				configure(cfg)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	f := &fedTest{t: t, c: c}
	for _, d := range c.Nodes {
		sc, err := d.Node.AddScanner(context.Background(), node.Principal{Role: node.RoleOperator}, "gate", "checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		f.scanners = append(f.scanners, sc.Token)
	}
	return f
}

func (f *fedTest) call(i int, method, path, token string, body, out any) int {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.c.Nodes[i].URL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := testClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			f.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func (f *fedTest) enrolAndIssue(i int, name, id string) (subject, code string) {
	f.t.Helper()
	var s struct{ ID string }
	if st := f.call(i, "POST", "/v1/subjects", f.c.Tokens[i], map[string]any{"name": name, "id_number": id,
		"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}, &s); st != 201 {
		f.t.Fatalf("enrol: %d", st)
	}
	return s.ID, f.issue(i, s.ID)
}

func (f *fedTest) issue(i int, subject string) string {
	f.t.Helper()
	var c struct{ Code string }
	if st := f.call(i, "POST", "/v1/subjects/"+subject+"/codes", f.c.Tokens[i], nil, &c); st != 201 {
		f.t.Fatalf("issue: %d", st)
	}
	return c.Code
}

func (f *fedTest) verify(i int, code string) string {
	f.t.Helper()
	var v struct{ Reason string }
	if st := f.call(i, "POST", "/v1/verify", f.scanners[i], map[string]string{"code": code}, &v); st != 200 {
		f.t.Fatalf("verify: %d", st)
	}
	return v.Reason
}

// eventually waits until province i answers want for code.
func (f *fedTest) eventually(i int, code, want string) time.Duration {
	f.t.Helper()
	return f.eventuallyWithin(i, code, want, 15*time.Second)
}

// eventuallyWithin is eventually with its own deadline.
func (f *fedTest) eventuallyWithin(i int, code, want string, within time.Duration) time.Duration {
	f.t.Helper()
	start := time.Now()
	var got string
	err := poll(within, 10*time.Millisecond, func() error {
		if got = f.verify(i, code); got != want {
			return fmt.Errorf("verify says %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("%s: %v", f.c.Configs[i].Province, err)
	}
	return time.Since(start)
}

// holdsKeysetOf waits until node peer holds the keyset node home holds
// of its own province now (or a later one).
func (f *fedTest) holdsKeysetOf(peer, home int) {
	f.t.Helper()
	province := f.c.Configs[home].Province
	want := f.c.Nodes[home].Node.State().Keyset(province).Version
	err := poll(15*time.Second, 10*time.Millisecond, func() error {
		if ks := f.c.Nodes[peer].Node.State().Keyset(province); ks == nil || ks.Version < want {
			return fmt.Errorf("it holds %v of %s, want version %d", ks, province, want)
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("%s: %v", f.c.Configs[peer].Province, err)
	}
}

// unreachableNATS is a NATS URL where nothing listens.
var unreachableNATS = []string{"nats://127.0.0.1:1"}

// restartWithNATS restarts province i talking to the NATS servers at urls.
func (f *fedTest) restartWithNATS(i int, urls []string) {
	f.t.Helper()
	f.c.Configs[i].NATS.URLs = urls
	if err := f.c.Restart(context.Background(), i); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fedTest) setStatus(i int, subject, status string) {
	f.t.Helper()
	if st := f.call(i, "PUT", "/v1/subjects/"+subject+"/status", f.c.Tokens[i], map[string]string{"status": status}, nil); st != 200 {
		f.t.Fatalf("status: %d", st)
	}
}

func TestCodeOfOneProvinceVerifiesInEveryOtherAndRevocationPropagates(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	for i := range f.c.Nodes {
		f.eventually(i, code, "ok")
	}
	f.setStatus(0, subject, "red")
	for i := range f.c.Nodes {
		took := f.eventually(i, code, "revoked")
		t.Logf("%s rejects the revoked code after %v", f.c.Configs[i].Province, took)
	}
	red := f.issue(0, subject)
	for i := range f.c.Nodes {
		f.eventually(i, red, "ok")
	}
}

func TestRotationAndCompromisePropagate(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, old := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, old, "ok")
	var keys struct{ Keys []struct{ KID, State string } }
	if st := f.call(0, "POST", "/v1/keys/rotate", f.c.Tokens[0], nil, &keys); st != 200 {
		t.Fatalf("rotate: %d", st)
	}
	fresh := f.issue(0, subject)
	f.eventually(1, fresh, "ok")
	f.eventually(2, fresh, "ok")
	if got := f.verify(1, old); got != "ok" {
		t.Fatalf("code of the retired key in 310000: %s", got)
	}
	var retired string
	for _, k := range keys.Keys {
		if k.State == "retired" {
			retired = k.KID
		}
	}
	if st := f.call(0, "POST", "/v1/keys/"+retired+"/compromise", f.c.Tokens[0], nil, nil); st != 200 {
		t.Fatalf("compromise: %d", st)
	}
	for i := range f.c.Nodes {
		f.eventually(i, old, "key_compromised")
		if got := f.verify(i, fresh); got != "ok" {
			t.Fatalf("%s: code of the healthy key: %s", f.c.Configs[i].Province, got)
		}
	}
}

func TestNodeDownWhilePeerRotatesAndRevokesCatchesUp(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	if err := f.c.Stop(1); err != nil {
		t.Fatal(err)
	}
	if st := f.call(0, "POST", "/v1/keys/rotate", f.c.Tokens[0], nil, nil); st != 200 {
		t.Fatalf("rotate: %d", st)
	}
	f.setStatus(0, subject, "yellow")
	fresh := f.issue(0, subject)
	f.eventually(2, code, "revoked")
	if err := f.c.Restart(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	f.eventually(1, code, "revoked")
	f.eventually(1, fresh, "ok")
}

func TestNodeRestartedWithoutNATSVerifiesFromCache(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, revoked := f.enrolAndIssue(0, "张三", "11010519491231002X")
	_, valid := f.enrolAndIssue(0, "李四", "110105194912310046")
	f.setStatus(0, subject, "red")
	f.eventually(1, revoked, "revoked")
	f.eventually(1, valid, "ok")
	// NATS goes away; Shanghai restarts and has only its database.
	f.restartWithNATS(1, unreachableNATS)
	if got := f.verify(1, valid); got != "ok" {
		t.Fatalf("valid Guangdong code in Shanghai without NATS: %s", got)
	}
	if got := f.verify(1, revoked); got != "revoked" {
		t.Fatalf("revoked Guangdong code in Shanghai without NATS: %s", got)
	}
	var fv struct{ Connected bool }
	f.call(1, "GET", "/v1/federation", "", nil, &fv)
	if fv.Connected {
		t.Fatal("federation view claims a connection to an unreachable NATS")
	}
}

// A node restarted while NATS is unreachable verifies with what it cached
// only until its trust data is older than trust.stale_limit, counted from
// its last contact with the federation, not from the restart: before, the
// restarted node held no time of its last sync and applied no limit at
// all, so a node kept from NATS verified codes revoked meanwhile as ok
// until the trust list expired.
func TestNodeRestartedWithoutNATSAnswersTrustStaleOnceItsLastSyncIsOlderThanTheLimit(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces, Now: clock.Now})
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	waitFor(t, "Shanghai's last sync on record", func() error {
		_, err := f.c.Nodes[1].DB.GetMeta(context.Background(), "federation.last_synced")
		return err
	})
	f.c.Configs[1].Trust.StaleLimit = time.Hour
	f.restartWithNATS(1, unreachableNATS)
	if got := f.verify(1, code); got != "ok" {
		t.Fatalf("Shanghai restarted without NATS, within the limit: %s", got)
	}
	clock.Advance(2 * time.Hour) // the code lives 24 h
	if got := f.verify(1, code); got != "trust_stale" {
		t.Fatalf("Shanghai restarted without NATS, its last sync 2 h ago and trust.stale_limit 1 h: %s, want trust_stale", got)
	}
}

func TestRevocationCommittedButNotPublishedIsPublishedAfterRestart(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	// Guangdong loses NATS, so the status change is committed to its
	// outbox but cannot be published; then it stops.
	good := f.c.Configs[0].NATS.URLs
	f.restartWithNATS(0, unreachableNATS)
	f.setStatus(0, subject, "red")
	if got := f.verify(0, code); got != "revoked" {
		t.Fatalf("home node: %s", got)
	}
	if err := f.c.Stop(0); err != nil {
		t.Fatal(err)
	}
	if got := f.verify(1, code); got != "ok" {
		t.Fatalf("the revocation reached Shanghai without NATS? %s", got)
	}
	f.restartWithNATS(0, good)
	f.eventually(1, code, "revoked")
	f.eventually(2, code, "revoked")
}

func TestForgedStatementsAreCountedAndValidTrafficFlows(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	conn := operatorConn(t, f.c)
	ctx := context.Background()
	for key, raw := range map[string][]byte{
		"440000.keyset":    []byte("garbage"),
		"110000.keyset":    []byte(f.c.Nodes[0].Node.Keyset()), // Guangdong's keyset under Beijing's name
		"440000.heartbeat": []byte(strings.Repeat("A", 100)),
	} {
		if _, err := conn.PutState(ctx, key, raw); err != nil {
			t.Fatal(err)
		}
	}
	// Valid traffic after the forgeries: a new code still verifies.
	subject2, code2 := f.enrolAndIssue(0, "李四", "110105194912310046")
	_ = subject2
	f.eventually(1, code2, "ok")
	waitMetric(t, f.c.Nodes[1], `hcfed_statements_total{kind="keyset",reason="malformed"}`)
	waitMetric(t, f.c.Nodes[1], `hcfed_statements_total{kind="keyset",reason="wrong_signer"}`)
	if got := f.verify(1, code); got != "ok" {
		t.Fatalf("earlier code after forgeries: %s", got)
	}
	// Guangdong republishes its real keyset on schedule; Beijing's stays Beijing's.
	if got := f.verify(2, f.issue(2, mustEnrol(t, f, 2))); got != "ok" {
		t.Fatalf("Beijing's own code after a forged Beijing keyset: %s", got)
	}
}

func mustEnrol(t *testing.T, f *fedTest, i int) string {
	t.Helper()
	s, _ := f.enrolAndIssue(i, "王五", "310115198506078825")
	return s
}

func waitMetric(t *testing.T, d *daemon.Daemon, series string) {
	t.Helper()
	err := poll(10*time.Second, 20*time.Millisecond, func() error {
		resp, err := http.Get(d.MetricsURL)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), series) {
			return fmt.Errorf("metric %s never appeared", series)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStartClusterRefusesAMetricsPortInUseBeforeAnythingStarts: a
// province's metrics port held by another program is refused as its
// HTTP port is, before the NATS server starts or anything is written.
func TestStartClusterRefusesAMetricsPortInUseBeforeAnythingStarts(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	_, err = daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: dir,
		Provinces: []daemon.Province{{ID: "440000", Name: "Guangdong", Listen: "127.0.0.1:0", MetricsListen: busy.Addr().String()}}})
	if err == nil || !strings.Contains(err.Error(), "Guangdong: metrics: ") || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("StartCluster with a metrics port in use: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("the cluster's directory after the refusal: %v %v, want empty", entries, err)
	}
}
