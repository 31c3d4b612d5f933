package node_test

import (
	"context"
	"sync/atomic"
	"testing"
)

// BenchmarkIssueParallel is issuance as the API runs it — subject read,
// data-key unseal, sign, encrypt, and the durable SQLite write — from many
// concurrent callers, so that the store's group commit can share one fsync
// among many codes. codes/s is the figure to compare with the target.
func BenchmarkIssueParallel(b *testing.B) {
	d := startNode(b)
	const subjects = 8
	ids := make([]string, subjects)
	for i := range ids {
		ids[i] = enrol(b, d.Node, i).ID
	}
	ctx := context.Background()
	var next atomic.Uint64
	b.SetParallelism(16) // 16 × GOMAXPROCS callers: enough to fill a commit
	b.ReportAllocs()
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}
