//go:build unix

package node_test

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// BenchmarkIssueParallel is issuance as the API runs it — subject read,
// data-key unseal, sign, encrypt, and the durable SQLite write — from many
// concurrent callers, so that the store's group commit can share one fsync
// among many codes. codes/s is the figure to compare with the target.
func BenchmarkIssueParallel(b *testing.B) {
	// Each subject may hold codes.max_live live codes: enough subjects, at
	// the largest bound, for every code a 2 s run issues.
	d := startNode(b, func(c *config.Config) { c.Codes.MaxLive = config.MaxLiveCodes })
	const subjects = 64
	ids := make([]string, subjects)
	for i := range ids {
		ids[i] = enrol(b, d.Node, i).ID
	}
	ctx := context.Background()
	var next atomic.Uint64
	b.SetParallelism(16) // 16 × GOMAXPROCS callers: enough to fill a commit
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)%subjects]
			if _, err := d.Node.IssueCode(ctx, operator, id, false); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

// BenchmarkVerify is one scanner's verification of a valid code of this
// province through Node.Verify: the scan limit, trust.Verify, the metrics,
// the audit entry and its queueing. allocs/op is the figure to keep.
func BenchmarkVerify(b *testing.B) {
	d := startNode(b, func(c *config.Config) { c.Limits.ScannerRate, c.Limits.ScannerBurst = 1e9, 1e9 })
	ctx := context.Background()
	e := enrol(b, d.Node, 1)
	sc, err := d.Node.AddScanner(ctx, operator, "gate", "checkpoint")
	if err != nil {
		b.Fatal(err)
	}
	code, err := d.Node.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		b.Fatal(err)
	}
	scanner := node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "checkpoint"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if v, err := d.Node.Verify(ctx, scanner, code.Code); err != nil || !v.Valid {
			b.Fatalf("verify: %+v %v", v, err)
		}
	}
}

// cpuTime is the CPU time this process has used. On a shared machine
// codes/s depends on what else runs; CPU per code much less.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
