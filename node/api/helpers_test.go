package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

// syncBuffer collects log output from several goroutines.
type syncBuffer = testkit.Buffer

// testNode is one province node on a real SQLite file and a real HTTP
// listener, started the way 'hcnode serve' starts it. It shares nothing
// with another test's node (its own directory, listener, clock, log and
// metrics registry), so the tests of this package run in parallel; a test
// that changes the process (environment, umask, a package variable) must
// not call t.Parallel.
type testNode struct {
	t        testing.TB
	cfg      config.Config
	d        *daemon.Daemon
	clock    *clock
	logs     *syncBuffer
	operator string
	scanner  string
	// metricsToken is the bearer token /metrics asks for on the public
	// listener: the test nodes have no metrics_listen, and a
	// metrics_token_file that Init writes.
	metricsToken string
}

func startNode(t testing.TB, province string, mutate ...func(*config.Config)) *testNode {
	t.Helper()
	cfg := config.Default(province)
	cfg.DataDir = filepath.Join(t.TempDir(), province)
	cfg.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
	cfg.MetricsTokenFile = config.DefaultMetricsTokenFile
	for _, m := range mutate {
		m(&cfg)
	}
	ctx := context.Background()
	op, err := daemon.Init(ctx, cfg)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	tn := &testNode{t: t, cfg: cfg, clock: newClock(time.Now()), logs: &syncBuffer{}, operator: op}
	if cfg.MetricsTokenFile != "" {
		if tn.metricsToken, err = config.ReadMetricsToken(cfg.MetricsTokenPath()); err != nil {
			t.Fatal(err)
		}
	}
	tn.start()
	sc, err := tn.d.Node.AddScanner(ctx, node.Principal{Role: node.RoleOperator}, "gate 1", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	tn.scanner = sc.Token
	return tn
}

func (tn *testNode) start() {
	tn.t.Helper()
	if err := tn.tryStart(); err != nil {
		tn.t.Fatalf("start: %v", err)
	}
}

// tryStart starts the node with tn.cfg, returning the error a refused
// start stops with.
func (tn *testNode) tryStart() error {
	tn.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tn.t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(tn.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.Start(context.Background(), tn.cfg, daemon.Options{Logger: log, Now: tn.clock.Now, Listener: l, TickEvery: time.Hour})
	if err != nil {
		l.Close()
		return err
	}
	tn.d = d
	tn.t.Cleanup(func() { tn.stop() })
	return nil
}

func (tn *testNode) stop() {
	if tn.d != nil {
		if err := tn.d.Close(); err != nil {
			tn.t.Errorf("close: %v", err)
		}
		tn.d = nil
	}
}

func (tn *testNode) restart() {
	tn.t.Helper()
	tn.stop()
	tn.start()
}

// call makes a request and decodes a JSON answer into out (if non-nil).
func (tn *testNode) call(method, path, token string, body any, out any) *http.Response {
	tn.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tn.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, tn.d.URL+path, r)
	if err != nil {
		tn.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tn.t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tn.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type verification struct {
	Valid      bool   `json:"valid"`
	Reason     string `json:"reason"`
	Issuer     string `json:"issuer"`
	Status     string `json:"status"`
	MaskedName string `json:"masked_name"`
	Exp        int64  `json:"exp"`
}

type issued struct {
	Code  string `json:"code"`
	JTI   string `json:"jti"`
	Exp   int64  `json:"exp"`
	QRURL string `json:"qr_url"`
}

// Test residents. The ID numbers carry valid GB 11643 check characters.
const (
	residentName = "张三丰"
	residentID   = "11010519491231002X"
	residentTel  = "13800138000"
)

func enrolment(name, id string) map[string]any {
	return map[string]any{"name": name, "id_number": id, "phone": residentTel,
		"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}
}

func (tn *testNode) enrol(name, id string) (subjectID, residentToken string) {
	tn.t.Helper()
	var out struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
	}
	resp := tn.call("POST", "/v1/subjects", tn.operator, enrolment(name, id), &out)
	if resp.StatusCode != http.StatusCreated || out.ID == "" || out.ResidentToken == "" {
		tn.t.Fatalf("enrol: %d %+v", resp.StatusCode, out)
	}
	return out.ID, out.ResidentToken
}

func (tn *testNode) issue(subjectID, token string) issued {
	tn.t.Helper()
	var out issued
	resp := tn.call("POST", "/v1/subjects/"+subjectID+"/codes", token, nil, &out)
	if resp.StatusCode != http.StatusCreated || out.Code == "" {
		tn.t.Fatalf("issue: %d %+v", resp.StatusCode, out)
	}
	return out
}

func (tn *testNode) verify(code string) verification {
	tn.t.Helper()
	var out verification
	resp := tn.call("POST", "/v1/verify", tn.scanner, map[string]string{"code": code}, &out)
	if resp.StatusCode != http.StatusOK {
		tn.t.Fatalf("verify: HTTP %d", resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		tn.t.Fatalf("verify Cache-Control %q, want no-store", cc)
	}
	return out
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	testkit.WaitFor(t, timeout, 20*time.Millisecond, "condition", cond)
}
