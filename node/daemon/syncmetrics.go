package daemon

import (
	"github.com/hcfed/hcfed/federation"
	"github.com/prometheus/client_golang/prometheus"
)

// registerWaitMetrics exports what the running Sync holds back, waiting
// (federation.Waits), the snapshots it downloaded that fell short of
// their pointer, those whose size deferred the next download, and the
// revocation streams it found created again. Each is 0 from the start,
// before the node connects, so that an alert sees its first rise. None of them reads Sync's lock.
func (f *fed) registerWaitMetrics(r *prometheus.Registry) {
	wait := func(pick func(federation.Waits) int) func() float64 {
		return func() float64 {
			if s := f.sync.Load(); s != nil {
				return float64(pick(s.Waits()))
			}
			return 0
		}
	}
	count := func(read func(*federation.Sync) uint64) func() float64 {
		return func() float64 {
			if s := f.sync.Load(); s != nil {
				return float64(read(s))
			}
			return 0
		}
	}
	r.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_federation_pending_statements",
			Help: "Statements from the federation held until what they depend on arrives (a keyset, a trust list naming their province), snapshots waiting for a keyset included."},
			wait(func(w federation.Waits) int { return w.Pending })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_federation_parked_revocations",
			Help: "Revocation deltas parked behind a gap or a missing keyset of their province."},
			wait(func(w federation.Waits) int { return w.Parked })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_federation_blocked_provinces",
			Help: "Provinces whose revocations are blocked on a gap (waiting for a snapshot) or on a keyset."},
			wait(func(w federation.Waits) int { return w.Blocked })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_federation_snapshots_behind_pointer_total",
			Help: "Snapshots downloaded that held less than their province's pointer claimed; each is logged with its province, whose later downloads are spaced out."},
			count((*federation.Sync).SnapshotsBehindPointer)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_federation_snapshots_over_byte_rate_total",
			Help: "Snapshots downloaded whose size deferred their province's next download beyond a second (at 160 MiB a minute a province); each is logged with its province."},
			count((*federation.Sync).SnapshotsOverByteRate)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_federation_revocation_stream_recreated_total",
			Help: "Times the revocation stream was found created again (or another server's) since this node last read it; each time it is read again from its start, and logged with the cursor and the stream's last seq."},
			count((*federation.Sync).StreamRecreations)))
}
