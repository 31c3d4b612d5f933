package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node"
)

// The NATS cluster as the node sees it (federation.Conn.ClusterInfo) is
// read every clusterInfoEvery; the revocation stream unavailable (no
// leader with a quorum) for jetStreamDownAfter makes the node not ready.
// The grace covers a Raft election after one server of a cluster dies,
// which takes a few seconds and must not take every node out of its load
// balancer at once.
const (
	clusterInfoEvery   = 2 * time.Second
	jetStreamDownAfter = 10 * time.Second
)

// clusterSeen is the last cluster info read, and since when the
// revocation stream has been unavailable (zero: it is available).
type clusterSeen struct {
	info      federation.ClusterInfo
	downSince time.Time
}

// watchCluster keeps f.cluster current until ctx ends: every
// clusterInfoEvery, or twice within a shorter grace.
func (f *fed) watchCluster(ctx context.Context, conn *federation.Conn) {
	t := time.NewTicker(min(clusterInfoEvery, f.jsGrace/2))
	defer t.Stop()
	for {
		f.recordCluster(conn.ClusterInfo(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (f *fed) recordCluster(info federation.ClusterInfo) {
	seen := clusterSeen{info: info}
	if rev, ok := revocationHealth(info); !ok || !rev.Available() {
		seen.downSince = f.now()
		if old := f.cluster.Load(); old != nil && !old.downSince.IsZero() {
			seen.downSince = old.downSince
		} else {
			f.log.Warn("JetStream revocation stream unavailable: revocations wait in the outbox", "detail", rev.Describe())
		}
	} else if old := f.cluster.Load(); old != nil && !old.downSince.IsZero() {
		f.log.Info("JetStream revocation stream available again", "leader", rev.Leader, "current", rev.Current)
	}
	f.cluster.Store(&seen)
}

func revocationHealth(info federation.ClusterInfo) (federation.StreamHealth, bool) {
	for _, s := range info.Streams {
		if s.Asset == federation.AssetRevocations {
			return s, true
		}
	}
	return federation.StreamHealth{}, false
}

// clusterInfo is the last cluster info read, if any.
func (f *fed) clusterInfo() (federation.ClusterInfo, bool) {
	if c := f.cluster.Load(); c != nil {
		return c.info, true
	}
	return federation.ClusterInfo{}, false
}

// jetStreamProblem is the readiness rule: the revocation stream
// unavailable for f.jsGrace.
func (f *fed) jetStreamProblem() error {
	c := f.cluster.Load()
	if c == nil || c.downSince.IsZero() {
		return nil
	}
	if d := f.now().Sub(c.downSince); d >= f.jsGrace {
		rev, _ := revocationHealth(c.info)
		return &node.NotReady{Check: node.ReadyRevocationStream, Message: fmt.Sprintf("JetStream revocation stream unavailable for %s: "+
			"verifying from what is held; revocations wait in the outbox", d.Round(time.Second)), Err: errors.New(rev.Describe())}
	}
	return nil
}

// clusterWarnings are what GET /v1/federation warns of the NATS side:
// an asset unavailable or with fewer current replicas than configured.
func clusterWarnings(info federation.ClusterInfo) []federation.Warning {
	var w []federation.Warning
	for _, s := range info.Streams {
		if !s.Healthy() {
			w = append(w, s.Warning())
		}
	}
	return w
}

// federationView is GET /v1/federation once connected: the federation
// and the NATS cluster as this node sees them.
type federationView struct {
	federation.FederationView
	NATS *federation.ClusterInfo `json:"nats"`
}

// ClusterInfo is the NATS cluster as the node last read it (every
// clusterInfoEvery); false until the node has connected.
func (d *Daemon) ClusterInfo() (federation.ClusterInfo, bool) { return d.fed.clusterInfo() }

// registerSourceMetrics exports the stepdowns of this account's
// aggregates the node asked for because a source had stalled
// (federation.Conn.WatchSources, accounts mode).
func (f *fed) registerSourceMetrics(r *prometheus.Registry) {
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_nats_source_stepdowns_total",
		Help: "Stepdowns of this province's copies of the federation's streams asked for because a source had stalled (accounts mode); each is logged."},
		func() float64 {
			if c := f.conn.Load(); c != nil {
				return float64(c.Stats().SourceStepdowns)
			}
			return 0
		}))
}

// registerServiceDropMetrics exports, per service, the requests from
// other members this node's service subscriptions dropped unread because
// each already held as many as it may while its handler was busy
// (federation/services.go): a flood, or a handler too slow.
func (f *fed) registerServiceDropMetrics(r *prometheus.Registry) {
	for _, m := range []struct {
		service string
		get     func(federation.ServiceDrops) uint64
	}{
		{"lookups", func(d federation.ServiceDrops) uint64 { return d.Lookups }},
		{"receipts", func(d federation.ServiceDrops) uint64 { return d.Receipts }},
		{"snapshot_requests", func(d federation.ServiceDrops) uint64 { return d.SnapshotRequests }},
	} {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_nats_requests_dropped_total",
			Help:        "Requests from other members dropped unread because the service's queue, or for lookups and receipts the sending member's, was full (a flood, or a slow handler); each service logs at most once a minute.",
			ConstLabels: prometheus.Labels{"service": m.service}},
			func() float64 {
				if c := f.conn.Load(); c != nil {
					return float64(m.get(c.Stats().RequestsDropped))
				}
				return 0
			}))
	}
}
