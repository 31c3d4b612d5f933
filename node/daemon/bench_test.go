package daemon_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// provinces returns n distinct province ids: the real 34 GB/T 2260
// provincial-level codes first.
func provinces(n int) []daemon.Province {
	ids := []string{"110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000", "310000", "320000",
		"330000", "340000", "350000", "360000", "370000", "410000", "420000", "430000", "440000", "450000", "460000",
		"500000", "510000", "520000", "530000", "540000", "610000", "620000", "630000", "640000", "650000", "710000",
		"810000", "820000"}
	out := make([]daemon.Province, n)
	for i := range out {
		out[i] = daemon.Province{ID: ids[i], Name: "P" + ids[i][:2], Listen: "127.0.0.1:0"}
	}
	return out
}

// BenchmarkRevocationPropagation measures, for federations of 3, 10 and 34
// nodes in one process, on one embedded NATS server and (",nats=cluster")
// on a 3-server NATS cluster with every asset R3, the time from the
// issuing node's status-change call to every peer rejecting the code.
// Each op is one revocation; run with -benchtime=100x for a usable p99.
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, n := range []int{3, 10, 34} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchPropagation(b, n, false) })
		b.Run(fmt.Sprintf("nodes=%d,nats=cluster", n), func(b *testing.B) { benchPropagation(b, n, true) })
	}
}

func benchPropagation(b *testing.B, n int, onCluster bool) {
	ctx := context.Background()
	cc := daemon.ClusterConfig{Dir: b.TempDir(), Provinces: provinces(n),
		Configure: func(cfg *config.Config) { cfg.Privacy.Collect = []string{"name", "id_number"} }}
	if onCluster {
		cc.NATSURLs, cc.Replicas = natstest.Start(b, natstest.Config{}).ClientURLs(), 3
	}
	c, err := daemon.StartCluster(ctx, cc)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	home := c.Nodes[0].Node
	op := node.Principal{Role: node.RoleOperator}
	// Wait until every peer has the home province's keys and content key.
	sub, err := home.Enrol(ctx, op, node.Enrolment{Name: "张三", IDNumber: "11010519491231002X",
		Consent: node.ConsentInput{NoticeVersion: config.NoticeVersion, Accepted: true}})
	if err != nil {
		b.Fatal(err)
	}
	probe, err := home.IssueCode(ctx, op, sub.ID, false)
	if err != nil {
		b.Fatal(err)
	}
	waitAll(b, c, func(st *trust.State) bool {
		return trust.Verify(probe.Code, st.Snapshot(), st, time.Now()).Valid()
	})
	lat := make([]time.Duration, 0, b.N)
	status := []string{"red", "yellow"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		code, err := home.IssueCode(ctx, op, sub.ID, false)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := home.SetStatus(ctx, op, sub.ID, status[i%2], ""); err != nil {
			b.Fatal(err)
		}
		waitAll(b, c, func(st *trust.State) bool { return st.Revoked(home.Province(), code.JTI) })
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// waitAll waits until cond holds on every node's trust state, checking
// often enough (every 100 µs) not to blur the latency it measures.
func waitAll(b *testing.B, c *daemon.Cluster, cond func(*trust.State) bool) {
	for _, d := range c.Nodes {
		err := poll(30*time.Second, 100*time.Microsecond, func() error {
			if !cond(d.Node.State()) {
				return fmt.Errorf("%s never reached the condition", d.Node.Province())
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
