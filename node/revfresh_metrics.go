package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/trust"
)

var (
	revocationsAgeDesc = prometheus.NewDesc("hcfed_revocations_age_seconds",
		"Seconds since this node last knew it held every revocation of each other active province (its last heartbeat naming a "+
			"revocation seq applied here); absent until known. Past trust.revocations_max_age that province's codes verify as revocations_stale.",
		[]string{"province"}, nil)
	revocationsStaleDesc = prometheus.NewDesc("hcfed_revocations_stale",
		"1 while this node refuses the codes of a province as revocations_stale: what it holds of that province's revocations is "+
			"older than trust.revocations_max_age, or was never confirmed current. Alert on it.",
		[]string{"province"}, nil)
)

// WatchRevocations exports, at each scrape of st at now, how current the
// revocations held of every other active province whose keys are held are
// (trust.Snapshot.RevocationsHeld). Metrics shared by several nodes
// (tests) export the first one's.
func (m *Metrics) WatchRevocations(st *trust.State, now func() time.Time) {
	_ = m.Registry.Register(&revocationsCollector{st: st, now: now})
}

// revocationsCollector reads the trust state on each scrape.
type revocationsCollector struct {
	st  *trust.State
	now func() time.Time
}

// Describe sends the collector's descriptors.
func (c *revocationsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- revocationsAgeDesc
	ch <- revocationsStaleDesc
}

// Collect sends the current values.
func (c *revocationsCollector) Collect(ch chan<- prometheus.Metric) {
	snap, now := c.st.Snapshot(), c.now()
	for id, m := range snap.Members {
		if m.Status != trust.MemberActive || len(snap.Keys[id]) == 0 {
			continue // its codes are refused for other reasons
		}
		asOf, stale, checked := snap.RevocationsHeld(id, now)
		if !checked {
			continue
		}
		v := 0.0
		if stale {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(revocationsStaleDesc, prometheus.GaugeValue, v, id)
		if !asOf.IsZero() {
			ch <- prometheus.MustNewConstMetric(revocationsAgeDesc, prometheus.GaugeValue, max(now.Sub(asOf), 0).Seconds(), id)
		}
	}
}
