//go:build unix

package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// BenchmarkHTTPVerify is POST /v1/verify end to end over loopback: a real
// node on real SQLite behind its real HTTP server, and a load generator
// bounded by b.N that talks only to that listener. Client and server share
// the machine's cores, so req/s is a floor for the server alone. Every
// answer must be 200 with valid:true.
func BenchmarkHTTPVerify(b *testing.B) {
	url, scanner, code := benchNode(b)
	body, err := json.Marshal(map[string]string{"code": code})
	if err != nil {
		b.Fatal(err)
	}
	// Keep-alive connections, one per client goroutine; a server that
	// stops answering fails the benchmark instead of hanging it.
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024,
		IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 10 * time.Second}}
	b.Cleanup(client.CloseIdleConnections)

	// The first answer is checked field by field; every later one must be
	// the same bytes.
	status, want, err := newScanClient(b, client, url, scanner, body).post()
	if err != nil {
		b.Fatal(err)
	}
	want = bytes.Clone(want)
	var v node.Verification
	if err := json.Unmarshal(want, &v); err != nil || status != http.StatusOK || !v.Valid || v.Reason != "ok" {
		b.Fatalf("verify: HTTP %d %s (%v)", status, want, err)
	}

	b.SetParallelism(8) // 8 × GOMAXPROCS concurrent clients
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sc := newScanClient(b, client, url, scanner, body)
		for pb.Next() {
			status, got, err := sc.post()
			if err != nil || status != http.StatusOK || !bytes.Equal(got, want) {
				b.Errorf("verify: HTTP %d %s (%v), want 200 %s", status, got, err, want)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

// scanClient is one scanner of the load generator. It reuses its request
// and its response buffer, so that the generator, which shares the cores
// with the server, takes as little of them as it can.
type scanClient struct {
	client *http.Client
	req    *http.Request
	body   []byte
	resp   bytes.Buffer
}

func newScanClient(b *testing.B, client *http.Client, url, token string, body []byte) *scanClient {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/verify", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return &scanClient{client: client, req: req, body: body}
}

// post sends the code and returns the status and the body, which is valid
// until the next call.
func (sc *scanClient) post() (int, []byte, error) {
	sc.req.Body, _ = sc.req.GetBody()
	resp, err := sc.client.Do(sc.req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	sc.resp.Reset()
	_, err = sc.resp.ReadFrom(resp.Body)
	return resp.StatusCode, sc.resp.Bytes(), err
}

// cpuTime is the CPU time this process has used, client and server
// together. On a shared machine req/s depends on what else runs; CPU per
// request does much less, and 2 cores ÷ cpu-us/op is what two idle cores
// could serve.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchNode starts a node with scanner rate limits out of the benchmark's
// way, enrols one resident, and returns the node's URL, a scanner token and
// a code issued to that resident.
func benchNode(b *testing.B) (url, scanner, code string) {
	b.Helper()
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(b.TempDir(), "440000")
	cfg.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Limits.ScannerRate, cfg.Limits.ScannerBurst = 1e9, 1e9
	ctx := context.Background()
	if _, err := daemon.Init(ctx, cfg); err != nil {
		b.Fatalf("init: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l, TickEvery: time.Hour})
	if err != nil {
		b.Fatalf("start: %v", err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	op := node.Principal{Role: node.RoleOperator}
	sc, err := d.Node.AddScanner(ctx, op, "gate 1", "checkpoint")
	if err != nil {
		b.Fatal(err)
	}
	e, err := d.Node.Enrol(ctx, op, node.Enrolment{Name: residentName, IDNumber: residentID,
		Consent: node.ConsentInput{NoticeVersion: cfg.Privacy.NoticeVersion, Accepted: true}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := d.Node.IssueCode(ctx, op, e.ID, false)
	if err != nil {
		b.Fatal(err)
	}
	return d.URL, sc.Token, c.Code
}
