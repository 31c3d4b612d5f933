//go:build unix

package api_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// BenchmarkHTTPIssueVsBaseline measures, side by side in one process and
// one run, HTTP issuance (POST /v1/subjects/:id/codes on a real node over
// loopback, the load generator sharing the cores) and its baseline: sign
// a code and record it with the store's group-committed InsertCode, from
// as many concurrent callers. It runs b.N requests in each of eight
// phases, timed apart:
//
//   - "http-", "ratio" (HTTP codes/s over baseline codes/s, target ≥ 0.6):
//     HTTP with net/http's client, every resident in the issuance cache
//     (codes.issue_cache), as when residents refresh their codes: the
//     node does what the baseline does, behind HTTP;
//   - "cold-", "cold-ratio": the same with the cache off, so that every
//     code also pays the read of its resident from the database, which
//     the baseline does not do;
//   - "base-": the baseline;
//   - "row-", "row-ratio" (HTTP codes/s over row codes/s): the baseline
//     recording the row the node records, not a bare one: the code's
//     text sealed under a data key, its proof-of-scan digest, and the
//     insert's bound on the resident's live codes (codes.max_live). The
//     difference between "ratio" and "row-ratio" is the row; what is
//     left between HTTP and "row-" is HTTP, the node's middleware, its
//     read of the resident and the opening of their data key;
//   - "raw-", "raw-ratio": as "http-", with a lean keep-alive load
//     generator as BenchmarkHTTPVerifyRawClient's, whose own CPU takes
//     less from the server on 2 shared cores;
//   - "rawrow-ratio": "raw-" over "row-", the lean client against the
//     baseline recording the node's row: HTTP's cost and the node's own
//     handling of a request, with neither the row nor the load
//     generator's weight in the gap;
//   - "bare-", "bare-ratio" (bare codes/s over baseline codes/s) and
//     "node-ratio" (HTTP codes/s over bare codes/s): the "row-" work
//     behind a bare echo server on its own loopback listener, with no
//     middleware, no authentication and nothing of the node, asked with
//     the same net/http client and answering a body of the same shape:
//     what HTTP issuance could reach if the node's own handling cost
//     nothing. "node-ratio" near 1 says the gap to the baseline is the
//     HTTP exchange on shared cores, not the node;
//   - "floor-" and "rawfloor-": an empty exchange (GET /healthz, through
//     the same middleware, connections and callers) with each client:
//     what HTTP alone costs, client, server and loopback TCP together,
//     in CPU a request beside the CPU a code of the other phases. (Not a
//     bound on the ratios: the baseline leaves part of the cores idle
//     while its commits wait for the disk, so rates are not in inverse
//     proportion to CPU a code.)
//
// The phases take turns, issueBenchRound codes at a time, so that all
// see the same database sizes and the same load from the rest of the
// machine, after one untimed warm-up round each.
//
//	go test -run '^$' -bench HTTPIssueVsBaseline -benchtime 4000x ./node/api
func BenchmarkHTTPIssueVsBaseline(b *testing.B) {
	// Enough subjects that none holds more live codes than the default
	// codes.max_live (8) after both phases: issuance counts a subject's
	// live codes before signing and again in the insert, and 64 subjects
	// holding hundreds of codes each (max_live raised to its ceiling)
	// made that count, not issuance, grow with b.N. Six phases issue,
	// each a warm-up round and b.N codes.
	subjects := max(64, (6*(b.N+issueBenchRound)+config.DefaultMaxLiveCodes-1)/config.DefaultMaxLiveCodes)
	d, cfg, opToken, ids := issueBenchNode(b, subjects)
	ctx := context.Background()
	ci := baselineIssuer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024,
		IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 10 * time.Second}}
	b.Cleanup(client.CloseIdleConnections)

	var next atomic.Uint64
	httpIssue := func() error {
		return postIssue(client, d.URL+"/v1/subjects/"+ids[next.Add(1)%uint64(subjects)]+"/codes", opToken)
	}
	baseline := func() error { return baselineIssue(ctx, ci, d, ids[next.Add(1)%uint64(subjects)]) }
	// row is the baseline recording the row the node records for a code:
	// its text sealed under a data key (which the QR image and a reprint
	// are made from), its proof-of-scan digest, and the bound on the
	// resident's live codes checked in the insert.
	dk, err := seal.NewKey(seal.NewKeyMaterial())
	if err != nil {
		b.Fatal(err)
	}
	rowCode := func(id string) (issuedBody, error) {
		now := time.Now()
		jti, err := trust.NewCodeID(now, nil)
		if err != nil {
			return issuedBody{}, err
		}
		exp := now.Add(time.Hour)
		code, _, err := ci.Issue(jti, now, exp, trust.Content{Status: trust.Green, Name: "张*", Doc: "****1234"})
		if err != nil {
			return issuedBody{}, err
		}
		digest, err := trust.ScanDigest(code)
		if err != nil {
			return issuedBody{}, err
		}
		err = d.DB.InsertCode(ctx, store.Code{JTI: jti, SubjectID: id, KID: ci.KeyID(), IssuedAt: now, Expires: exp,
			Status: "green", TextCT: dk.Seal([]byte(id+jti), []byte(code)), ScanDigest: digest, MaxLive: cfg.Codes.MaxLive})
		return issuedBody{Code: code, Exp: exp.Unix(), JTI: jti, QRURL: "/v1/codes/" + jti + "/qr.png"}, err
	}
	row := func() error {
		_, err := rowCode(ids[next.Add(1)%uint64(subjects)])
		return err
	}
	bareURL := bareIssuer(b, rowCode)
	bareIssue := func() error {
		return postIssue(client, bareURL+"/v1/subjects/"+ids[next.Add(1)%uint64(subjects)]+"/codes", opToken)
	}
	addr := strings.TrimPrefix(d.URL, "http://")
	rawRequests := make([][]byte, subjects)
	for i, id := range ids {
		rawRequests[i] = []byte(fmt.Sprintf("POST /v1/subjects/%s/codes HTTP/1.1\r\nHost: %s\r\n"+
			"Authorization: Bearer %s\r\nContent-Length: 0\r\n\r\n", id, addr, opToken))
	}
	// empty is the floor: an exchange that does nothing but pass the
	// node's middleware and answer.
	empty := func() error {
		req, err := http.NewRequest(http.MethodGet, d.URL+"/healthz", nil)
		if err != nil {
			return err
		}
		return exchange(client, req, http.StatusOK)
	}
	rawEmpty := []byte(fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr))
	callers := issueBenchCallersPerProc * runtime.GOMAXPROCS(0)
	httpFns, baseFns, rowFns, rawFns := make([]func() error, callers), make([]func() error, callers), make([]func() error, callers),
		make([]func() error, callers)
	floorFns, rawFloorFns, bareFns := make([]func() error, callers), make([]func() error, callers), make([]func() error, callers)
	for i := range callers {
		httpFns[i], baseFns[i], rowFns[i], floorFns[i], bareFns[i] = httpIssue, baseline, row, empty, bareIssue
		rc := dialRaw(b, addr)
		b.Cleanup(func() { rc.conn.Close() })
		rawFns[i] = func() error {
			status, body, err := rc.do(rawRequests[next.Add(1)%uint64(subjects)])
			if err != nil || status != http.StatusCreated {
				return fmt.Errorf("issue: HTTP %d %s (%v)", status, body, err)
			}
			return nil
		}
		rawFloorFns[i] = func() error {
			status, body, err := rc.do(rawEmpty)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("healthz: HTTP %d %s (%v)", status, body, err)
			}
			return nil
		}
	}
	// The phases take turns in rounds, so that each sees the same load
	// from the rest of a shared machine: run one after the other, each
	// phase's figure took whatever load its own seconds had, and the
	// ratio swung by a third between runs.
	var hw, hc, cw, cc, bw, bc, ow, oc, rw, rcpu, fw, fc, gw, gc, aw, ac time.Duration
	var hcommits, ccommits, bcommits, ocommits, rcommits, fcommits, gcommits, acommits int64
	// cache turns the issuance cache on, with every resident in it, or off.
	d.DB.SetIssueCacheEntries(0)
	cached := false
	cache := func(on bool) {
		if on == cached {
			return
		}
		cached = on
		if !on {
			d.DB.SetIssueCacheEntries(0)
			return
		}
		d.DB.SetIssueCacheEntries(cfg.Codes.IssueCache)
		for _, id := range ids {
			if _, err := d.DB.SubjectForIssue(ctx, id, time.Now(), 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	type phase struct {
		fns       []func() error
		cached    bool
		wall, cpu *time.Duration
		commits   *int64
	}
	phases := []phase{{httpFns, false, &cw, &cc, &ccommits}, {httpFns, true, &hw, &hc, &hcommits},
		{baseFns, true, &bw, &bc, &bcommits}, {rowFns, true, &ow, &oc, &ocommits}, {rawFns, true, &rw, &rcpu, &rcommits},
		{bareFns, true, &aw, &ac, &acommits}, {floorFns, true, &fw, &fc, &fcommits}, {rawFloorFns, true, &gw, &gc, &gcommits}}
	// One untimed round of every phase first, as a warm-up: net/http's
	// client dials its connections on first use (the lean client's were
	// dialed above), and the heap, the page cache and the writer's
	// prepared statements settle, so that no phase's first timed round
	// pays for them.
	for _, p := range phases {
		cache(p.cached)
		issueRound(b, p.fns, issueBenchRound)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += issueBenchRound {
		ops := min(issueBenchRound, b.N-done)
		for _, p := range phases {
			b.StopTimer()
			cache(p.cached)
			b.StartTimer()
			c0 := d.DB.GroupCommits()
			w, c := issueRound(b, p.fns, ops)
			*p.wall += w
			*p.cpu += c
			*p.commits += d.DB.GroupCommits() - c0
		}
	}
	b.StopTimer()
	n := float64(b.N)
	httpRate, coldRate, baseRate, rowRate, rawRate, bareRate := n/hw.Seconds(), n/cw.Seconds(), n/bw.Seconds(), n/ow.Seconds(),
		n/rw.Seconds(), n/aw.Seconds()
	b.ReportMetric(httpRate, "http-codes/s")
	b.ReportMetric(coldRate, "cold-codes/s")
	b.ReportMetric(baseRate, "base-codes/s")
	b.ReportMetric(rowRate, "row-codes/s")
	b.ReportMetric(rawRate, "raw-codes/s")
	b.ReportMetric(bareRate, "bare-codes/s")
	b.ReportMetric(httpRate/baseRate, "ratio")
	b.ReportMetric(coldRate/baseRate, "cold-ratio")
	b.ReportMetric(rawRate/baseRate, "raw-ratio")
	b.ReportMetric(httpRate/rowRate, "row-ratio")
	b.ReportMetric(bareRate/baseRate, "bare-ratio")
	b.ReportMetric(httpRate/bareRate, "node-ratio")
	b.ReportMetric(float64(hc.Microseconds())/n, "http-cpu-us/op")
	b.ReportMetric(float64(cc.Microseconds())/n, "cold-cpu-us/op")
	b.ReportMetric(float64(bc.Microseconds())/n, "base-cpu-us/op")
	b.ReportMetric(float64(oc.Microseconds())/n, "row-cpu-us/op")
	b.ReportMetric(float64(rcpu.Microseconds())/n, "raw-cpu-us/op")
	b.ReportMetric(float64(ac.Microseconds())/n, "bare-cpu-us/op")
	b.ReportMetric(n/fw.Seconds(), "floor-req/s")
	b.ReportMetric(n/gw.Seconds(), "rawfloor-req/s")
	b.ReportMetric(float64(fc.Microseconds())/n, "floor-cpu-us/op")
	b.ReportMetric(float64(gc.Microseconds())/n, "rawfloor-cpu-us/op")
	b.ReportMetric(rawRate/rowRate, "rawrow-ratio")
	// Codes per group commit: how full each phase keeps the batches.
	b.ReportMetric(n/float64(max(hcommits, 1)), "http-codes/commit")
	b.ReportMetric(n/float64(max(ccommits, 1)), "cold-codes/commit")
	b.ReportMetric(n/float64(max(bcommits, 1)), "base-codes/commit")
	b.ReportMetric(n/float64(max(ocommits, 1)), "row-codes/commit")
	b.ReportMetric(n/float64(max(rcommits, 1)), "raw-codes/commit")
	b.ReportMetric(n/float64(max(acommits, 1)), "bare-codes/commit")
}

// issueBenchNode starts a node for the issuance benchmarks with subjects
// residents enrolled, and returns it, its settings, an operator token and
// the residents' IDs.
func issueBenchNode(tb testing.TB, subjects int) (*daemon.Daemon, config.Config, string, []string) {
	tb.Helper()
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(tb.TempDir(), "440000")
	cfg.Listen, cfg.NATS.Listen = "127.0.0.1:0", "127.0.0.1:0"
	ctx := context.Background()
	opToken, err := daemon.Init(ctx, cfg)
	if err != nil {
		tb.Fatalf("init: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l, TickEvery: time.Hour})
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	op := node.Principal{Role: node.RoleOperator}
	ids := make([]string, subjects)
	for i := range ids {
		e, err := d.Node.Enrol(ctx, op, node.Enrolment{Name: residentName, IDNumber: testkit.IDNumber("110105194912", i),
			Consent: node.ConsentInput{NoticeVersion: cfg.Privacy.NoticeVersion, Accepted: true}})
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = e.ID
	}
	return d, cfg, opToken, ids
}

// baselineIssue is the issuance benchmarks' baseline for one code: sign
// it and record it for resident id with the store's group-committed
// InsertCode.
func baselineIssue(ctx context.Context, ci *trust.CodeIssuer, d *daemon.Daemon, id string) error {
	now := time.Now()
	jti, err := trust.NewCodeID(now, nil)
	if err != nil {
		return err
	}
	exp := now.Add(time.Hour)
	if _, _, err := ci.Issue(jti, now, exp, trust.Content{Status: trust.Green, Name: "张*", Doc: "****1234"}); err != nil {
		return err
	}
	return d.DB.InsertCode(ctx, store.Code{JTI: jti, SubjectID: id, KID: ci.KeyID(), IssuedAt: now, Expires: exp, Status: "green"})
}

// issuedBody is the body of a code issuance, as the node answers it.
type issuedBody struct {
	Code  string `json:"code"`
	Exp   int64  `json:"exp"`
	JTI   string `json:"jti"`
	QRURL string `json:"qr_url"`
}

// postIssue asks url for a code as an operator and reads the answer.
func postIssue(client *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return exchange(client, req, http.StatusCreated)
}

// exchange sends req with client, reads the whole answer and wants its
// status to be want.
func exchange(client *http.Client, req *http.Request, want int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return nil
}

// bareIssuer serves POST /v1/subjects/:id/codes on a loopback listener
// of its own with a bare echo server — no middleware, no token check,
// nothing of the node — that answers with what issue returns, and returns
// the server's base URL. It is HTTP issuance less the node's handling.
func bareIssuer(b *testing.B, issue func(id string) (issuedBody, error)) string {
	b.Helper()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/v1/subjects/:id/codes", func(c echo.Context) error {
		out, err := issue(c.Param("id"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, out)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	b.Cleanup(func() {
		if err := srv.Close(); err != nil {
			b.Errorf("bare issuer: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			b.Errorf("bare issuer: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

// baselineIssuer is a code issuer with a fresh key, for the baseline.
func baselineIssuer(b testing.TB) *trust.CodeIssuer {
	b.Helper()
	key, err := trust.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := trust.NewStatementSigner(key)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ck, err := trust.NewContentKey("ck1", now.Add(-time.Minute), now.Add(24*time.Hour), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ci, err := trust.NewCodeIssuer("440000", signer, now.Add(24*time.Hour), ck)
	if err != nil {
		b.Fatal(err)
	}
	return ci
}

const (
	// issueBenchCallersPerProc times GOMAXPROCS is how many callers each
	// phase of BenchmarkHTTPIssueVsBaseline has, as BenchmarkIssueParallel:
	// enough to fill a group commit.
	issueBenchCallersPerProc = 16
	// issueBenchRound is how many codes one phase issues per turn.
	issueBenchRound = 500
)

// issueRound makes ops calls in all, each of fns calling from its own
// goroutine, and returns the wall and process CPU time they took.
func issueRound(b testing.TB, fns []func() error, ops int) (wall, cpu time.Duration) {
	var left atomic.Int64
	left.Store(int64(ops))
	var wg sync.WaitGroup
	cpu0, start := cpuTime(b), time.Now()
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), cpuTime(b) - cpu0
}
