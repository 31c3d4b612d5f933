//go:build unix

package api_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
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
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// BenchmarkHTTPIssueVsBaseline measures, side by side in one process and
// one run, HTTP issuance (POST /v1/subjects/:id/codes on a real node over
// loopback, the load generator sharing the cores) and its baseline: sign
// a code and record it with the store's group-committed InsertCode, from
// as many concurrent callers. Each op does both, timed apart; "ratio" is
// HTTP codes/s over baseline codes/s (target ≥ 0.6).
//
//	go test -run '^$' -bench HTTPIssueVsBaseline -benchtime 2000x ./node/api
func BenchmarkHTTPIssueVsBaseline(b *testing.B) {
	const subjects = 64
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(b.TempDir(), "440000")
	cfg.Listen, cfg.NATS.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Codes.MaxLive = config.MaxLiveCodes
	ctx := context.Background()
	opToken, err := daemon.Init(ctx, cfg)
	if err != nil {
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
	ids := make([]string, subjects)
	for i := range ids {
		e, err := d.Node.Enrol(ctx, op, node.Enrolment{Name: residentName, IDNumber: testkit.IDNumber("110105194912", i),
			Consent: node.ConsentInput{NoticeVersion: cfg.Privacy.NoticeVersion, Accepted: true}})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = e.ID
	}
	ci := baselineIssuer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024,
		IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 10 * time.Second}}
	b.Cleanup(client.CloseIdleConnections)

	var next atomic.Uint64
	httpIssue := func() error {
		req, err := http.NewRequest(http.MethodPost, d.URL+"/v1/subjects/"+ids[next.Add(1)%subjects]+"/codes", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+opToken)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("issue: HTTP %d", resp.StatusCode)
		}
		return nil
	}
	baseline := func() error {
		jti, err := trust.NewJTI(nil)
		if err != nil {
			return err
		}
		now := time.Now()
		exp := now.Add(time.Hour)
		if _, _, err := ci.Issue(jti, now, exp, trust.Content{Status: trust.Green, Name: "张*", Doc: "****1234"}); err != nil {
			return err
		}
		return d.DB.InsertCode(ctx, store.Code{JTI: jti, SubjectID: ids[next.Add(1)%subjects], KID: ci.KeyID(),
			IssuedAt: now, Expires: exp, Status: "green"})
	}
	phase := func(fn func() error) (wall, cpu time.Duration) {
		cpu0, start := cpuTime(b), time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		return time.Since(start), cpuTime(b) - cpu0
	}
	b.SetParallelism(16) // as BenchmarkIssueParallel: enough callers to fill a commit
	b.ResetTimer()
	hw, hc := phase(httpIssue)
	bw, bc := phase(baseline)
	b.StopTimer()
	n := float64(b.N)
	httpRate, baseRate := n/hw.Seconds(), n/bw.Seconds()
	b.ReportMetric(httpRate, "http-codes/s")
	b.ReportMetric(baseRate, "base-codes/s")
	b.ReportMetric(httpRate/baseRate, "ratio")
	b.ReportMetric(float64(hc.Microseconds())/n, "http-cpu-us/op")
	b.ReportMetric(float64(bc.Microseconds())/n, "base-cpu-us/op")
}

// baselineIssuer is a code issuer with a fresh key, for the baseline.
func baselineIssuer(b *testing.B) *trust.CodeIssuer {
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
