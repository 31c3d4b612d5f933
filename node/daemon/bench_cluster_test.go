package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// BenchmarkNATSServerKillRecovery measures, for 3 and 10 nodes on a
// 3-server NATS cluster (every asset R3), the time from killing the
// server that leads the revocation stream until every node has published
// a revocation made right after the kill and every peer refuses its code:
// until every node publishes (and verifies) again. Verification itself
// never stops (node/daemon's failover test shows it). Each op is one kill;
// the server is restarted and caught up, untimed, before the next.
func BenchmarkNATSServerKillRecovery(b *testing.B) {
	for _, n := range []int{3, 10} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchKillRecovery(b, n) })
	}
}

func benchKillRecovery(b *testing.B, n int) {
	ctx := context.Background()
	nc := natstest.Start(b, natstest.Config{})
	c, err := daemon.StartCluster(ctx, daemon.ClusterConfig{Dir: b.TempDir(), Provinces: provinces(n),
		NATSURLs: nc.ClientURLs(), Replicas: 3,
		Configure: func(cfg *config.Config) { cfg.Privacy.Collect = []string{"name", "id_number"} }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	op := node.Principal{Role: node.RoleOperator}
	subjects := make([]string, n)
	for i, d := range c.Nodes {
		sub, err := d.Node.Enrol(ctx, op, node.Enrolment{Name: "张三", IDNumber: "11010519491231002X",
			Consent: node.ConsentInput{NoticeVersion: config.NoticeVersion, Accepted: true}})
		if err != nil {
			b.Fatal(err)
		}
		subjects[i] = sub.ID
		probe, err := d.Node.IssueCode(ctx, op, sub.ID, false)
		if err != nil {
			b.Fatal(err)
		}
		waitAll(b, c, func(st *trust.State) bool {
			return trust.Verify(probe.Code, st.Snapshot(), st, time.Now()).Valid()
		})
	}
	var info federation.ClusterInfo
	if err := poll(10*time.Second, 10*time.Millisecond, func() error {
		var ok bool
		if info, ok = c.Nodes[0].ClusterInfo(); !ok {
			return errors.New("no cluster info yet")
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	stream := info.Streams[1].Stream
	lat := make([]time.Duration, 0, b.N)
	status := []string{"red", "yellow"}
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		b.StopTimer()
		nc.WaitStreamsCurrent(natstest.GlobalAccount, stream)
		codes := make([]string, n)
		for i, d := range c.Nodes {
			code, err := d.Node.IssueCode(ctx, op, subjects[i], false)
			if err != nil {
				b.Fatal(err)
			}
			codes[i] = code.JTI
		}
		leader := nc.StreamLeader(natstest.GlobalAccount, stream)
		if leader < 0 {
			b.Fatal("the revocation stream has no leader")
		}
		b.StartTimer()
		start := time.Now()
		nc.Kill(leader)
		for i, d := range c.Nodes {
			if err := d.Node.SetStatus(ctx, op, subjects[i], status[k%2], ""); err != nil {
				b.Fatal(err)
			}
		}
		for i, d := range c.Nodes {
			waitAll(b, c, func(st *trust.State) bool { return st.Revoked(d.Node.Province(), codes[i]) })
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		nc.Restart(leader)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	b.ReportMetric(0, "ns/op")
}
