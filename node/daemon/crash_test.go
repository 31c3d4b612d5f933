package daemon_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// auditEntries lists province i's audit log, in order.
func (f *fedTest) auditEntries(i int) []store.AuditEntry {
	f.t.Helper()
	es, err := f.c.Nodes[i].DB.AuditEntries(context.Background(), 0, 10000)
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

// A manual rotation with no next key published ahead publishes one and
// waits for the federation before activating it; with no federation
// connection it is refused and nothing changes.
func TestManualRotationPublishesTheNextKeyFirstOrIsRefused(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:2], nil)
	subject, _ := f.enrolAndIssue(0, "张三", "11010519491231002X")
	waitFor(t, "440000 connected", func() error {
		if f.c.Nodes[0].Federation() == nil {
			return errors.New("not connected")
		}
		return nil
	})
	if st := f.call(0, "POST", "/v1/keys/rotate", f.c.Tokens[0], nil, nil); st != 200 {
		t.Fatalf("rotate: %d", st)
	}
	var next, rotated store.AuditEntry
	for _, e := range f.auditEntries(0) {
		switch e.Action {
		case "key.next":
			next = e
		case "key.rotate":
			rotated = e
		}
	}
	if next.Seq == 0 || rotated.Seq <= next.Seq || next.Target != rotated.Target {
		t.Fatalf("want the new key published as next (%+v) before it was activated (%+v)", next, rotated)
	}
	f.eventually(1, f.issue(0, subject), "ok")

	f.restartWithNATS(0, unreachableNATS)
	var before, after keyList
	f.call(0, "GET", "/v1/keys", f.c.Tokens[0], nil, &before)
	var e struct {
		Error struct{ Code, Message string }
	}
	if st := f.call(0, "POST", "/v1/keys/rotate", f.c.Tokens[0], nil, &e); st != 409 || e.Error.Code != "conflict" ||
		!strings.Contains(e.Error.Message, "not connected") {
		t.Fatalf("rotation without a federation: %d %+v, want 409 saying why", st, e)
	}
	f.call(0, "GET", "/v1/keys", f.c.Tokens[0], nil, &after)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("keys changed by a refused rotation: %v, then %v", before, after)
	}
}

type keyList struct{ Keys []struct{ KID, State string } }

// heldV2 publishes a legitimate trust list v2 and waits until province 0
// holds it in its database: the anchor a pinned file is checked against.
func (f *fedTest) heldV2() *trust.ParsedTrustList {
	f.t.Helper()
	ops := f.c.Operators
	f.publish(signWith(f.t, propose(f.t, f.held().TrustList, time.Now()), ops[1], ops[2]))
	f.waitVersion(2)
	waitFor(f.t, "v2 in the database", func() error {
		s, err := f.c.Nodes[0].DB.Statement(context.Background(), "trustlist")
		if err != nil || s.Version != 2 {
			return fmt.Errorf("cached: v%d %v", s.Version, err)
		}
		return nil
	})
	return f.held()
}

// pin makes province i start from doc as its pinned trust list file.
func (f *fedTest) pin(i int, doc []byte) {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), "pinned.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	f.c.Configs[i].Trust.ListFile, f.c.Configs[i].Trust.ListSHA256 = path, hex.EncodeToString(sum[:])
}

// A pinned trust list newer than the held one that does not follow from
// it stops the start with a clear error; with the re-bootstrap setting it
// replaces the held list, is audited, and is kept for later starts.
func TestPinnedTrustListBreakingTheChainIsRefusedUnlessReBootstrapIsAsked(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:1], nil)
	held := f.heldV2()
	strangers := []*ecdsa.PrivateKey{newKey(t), newKey(t), newKey(t)}
	doc := signWith(t, propose(t, held.TrustList, time.Now(),
		append(replaceOperators(t, held.TrustList, strangers), trust.Change{Op: "threshold", N: 2})...), strangers[0], strangers[1])
	f.pin(0, doc)

	err := f.c.Restart(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "does not follow") || !strings.Contains(err.Error(), "rebootstrap_unsafe") {
		t.Fatalf("start with a chain-breaking pinned list: %v, want a refusal naming the setting", err)
	}

	f.c.Configs[0].Trust.RebootstrapUnsafe = true
	if err := f.c.Restart(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if v := f.held().Version; v != held.Version+1 {
		t.Fatalf("holds v%d after the re-bootstrap, want v%d", v, held.Version+1)
	}
	var audited []store.AuditEntry
	for _, e := range f.auditEntries(0) {
		if e.Action == "trust.rebootstrap" {
			audited = append(audited, e)
		}
	}
	if len(audited) != 1 || !strings.Contains(audited[0].Detail, fmt.Sprintf(`"to_version":%d`, held.Version+1)) {
		t.Fatalf("re-bootstrap audit entries: %+v", audited)
	}

	f.c.Configs[0].Trust.RebootstrapUnsafe = false
	if err := f.c.Restart(context.Background(), 0); err != nil {
		t.Fatalf("restart after the re-bootstrap, setting off: %v", err)
	}
	if v := f.held().Version; v != held.Version+1 {
		t.Fatalf("holds v%d after a restart, want the re-bootstrapped v%d", v, held.Version+1)
	}
}

// A pinned trust list file that does not parse stops the start; its
// error is reported, not swallowed.
func TestPinnedTrustListThatDoesNotParseStopsTheStart(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:1], nil)
	f.heldV2()
	f.pin(0, []byte(`{"not":"a trust list"}`))
	err := f.c.Restart(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "trust.list_file") {
		t.Fatalf("start with an unparseable pinned list: %v, want its error", err)
	}
}

// stallListener tells when the server waits for bytes beyond the first
// want bytes of its one connection: the request's handler is reading a
// body the client has not finished sending.
type stallListener struct {
	net.Listener
	want    atomic.Int64
	waiting chan struct{}
	once    sync.Once
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, l: l}, nil
}

type stallConn struct {
	net.Conn
	l    *stallListener
	read atomic.Int64
}

func (c *stallConn) Read(p []byte) (int, error) {
	if want := c.l.want.Load(); want > 0 && c.read.Load() >= want {
		c.l.once.Do(func() { close(c.l.waiting) })
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// A request still running when the HTTP shutdown times out does not hold
// Close past its bound, and finishing after the node closed does not
// panic: it is answered, and its audit entry is counted lost.
func TestShutdownEndsWithinItsBoundAndALateRequestDoesNotPanic(t *testing.T) {
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(t.TempDir(), "440000")
	cfg.Listen, cfg.NATS.Listen = "127.0.0.1:0", "127.0.0.1:0"
	ctx := context.Background()
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &stallListener{Listener: inner, waiting: make(chan struct{})}
	logs := &syncBuffer{}
	const shutdown = 300 * time.Millisecond
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l, TickEvery: time.Hour, ShutdownTimeout: shutdown,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	op := node.Principal{Role: node.RoleOperator}
	e, err := d.Node.Enrol(ctx, op, node.Enrolment{Name: "张三", IDNumber: "11010519491231002X",
		Consent: node.ConsentInput{NoticeVersion: cfg.Privacy.NoticeVersion, Accepted: true}})
	if err != nil {
		t.Fatal(err)
	}
	code, err := d.Node.IssueCode(ctx, op, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := d.Node.AddScanner(ctx, op, "gate", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}

	body := `{"code":"` + code.Code + `"}`
	head := fmt.Sprintf("POST /v1/verify HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", sc.Token, len(body))
	first := head + body[:10]
	l.want.Store(int64(len(first)))
	conn, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(first)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never waited for the rest of the body")
	}

	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	bound := shutdown + 5*time.Second + 2*time.Second // closeGrace, and slack for a loaded machine
	select {
	case err = <-closed:
	case <-time.After(bound):
		t.Fatalf("Close still running after %s", bound)
	}
	if err == nil || !strings.Contains(err.Error(), "requests still running") {
		t.Fatalf("Close: %v, want it to say a request was still running", err)
	}
	t.Logf("Close returned after %v", time.Since(start))

	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(logs.String(), "panic") {
		t.Fatalf("late request: %d; logs:\n%s", resp.StatusCode, logs.String())
	}
	if lost := counter(t, d, "hcfed_audit_entries_lost_total"); lost != 1 {
		t.Fatalf("audit entries counted lost: %v, want the late verification's", lost)
	}
}

// counter reads a counter of the node's metrics from its registry (the
// HTTP server is closed).
func counter(t *testing.T, d *daemon.Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.Node.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
