package node_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
)

func cpuT() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkTmpNodeVerify(b *testing.B) {
	d := startNode(b, func(c *config.Config) { c.Limits.ScannerRate, c.Limits.ScannerBurst = 1e9, 1e9 })
	ctx := context.Background()
	e := enrol(b, d.Node, 1)
	c, err := d.Node.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		b.Fatal(err)
	}
	sc, _ := d.Node.AddScanner(ctx, operator, "g", "p")
	p, err := d.Node.Authenticate(ctx, sc.Token)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpuT()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v, err := d.Node.Verify(ctx, p, c.Code)
			if err != nil || !v.Valid {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuT()-c0).Microseconds())/float64(b.N), "cpu-us/op")
}
