package daemon_test

import (
	"context"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// BenchmarkTrustListPublish10 measures, in a 10-node federation on one
// embedded NATS server, the time from putting a new trust list version in
// the state bucket (what 'hcnode trust publish' does once connected) to
// every node holding it. Versions alternate between suspending and
// reinstating one province, so each op is the operators' response to a
// compromise reaching the whole federation. Each op is one version; run
// with -benchtime=30x and read p50-ms and p99-ms.
func BenchmarkTrustListPublish10(b *testing.B) {
	ctx := context.Background()
	c, err := daemon.StartCluster(ctx, daemon.ClusterConfig{Dir: b.TempDir(), Provinces: provinces(10),
		Configure: func(cfg *config.Config) { cfg.Privacy.Collect = []string{"name", "id_number"} }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	conn, err := federation.Connect(ctx, federation.ConnConfig{URLs: []string{c.Server.ClientURL()},
		Federation: "demo", Name: "bench-operator"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	target := c.Configs[len(c.Configs)-1].Province
	held, err := trust.ParseTrustList(c.TrustList)
	if err != nil {
		b.Fatal(err)
	}
	cur := held.TrustList
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		op := map[bool]string{true: "suspend", false: "reinstate"}[i%2 == 0]
		next, err := trust.Propose(cur, []trust.Change{{Op: op, ID: target}}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		payload, err := json.Marshal(next)
		if err != nil {
			b.Fatal(err)
		}
		var doc []byte
		for _, k := range c.Operators[:2] {
			if doc, err = trust.SignTrustList(doc, payload, k); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		if _, err := conn.PutState(ctx, "trustlist", doc); err != nil {
			b.Fatal(err)
		}
		waitAll(b, c, func(st *trust.State) bool { return st.TrustList().Version == next.Version })
		lat = append(lat, time.Since(start))
		cur = next
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
