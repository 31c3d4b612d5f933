package node

import (
	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the node's Prometheus metrics, on a registry of its own so
// several nodes can run in one process (demo, tests).
type Metrics struct {
	Registry      *prometheus.Registry
	Issued        *prometheus.CounterVec
	Verified      *prometheus.CounterVec
	VerifySeconds prometheus.Histogram
	IssueSeconds  prometheus.Histogram
	HTTPRequests  *prometheus.CounterVec
	HTTPSeconds   *prometheus.HistogramVec
	// HTTPConnections counts the connections open on the public HTTP
	// listener (listen); HTTPConnectionsMax is limits.max_connections,
	// set at start, past which new ones wait.
	HTTPConnections    prometheus.Gauge
	HTTPConnectionsMax prometheus.Gauge
	StatusChanges      prometheus.Counter
	Revoked            prometheus.Counter
	OutboxPending      prometheus.Gauge
	KeyRotations       prometheus.Counter
	// ContentRekeys counts new content keys started at once: for a
	// compromised signing key, because the trust list took a member out
	// of good standing, or at an admin's request (contentrekey.go).
	ContentRekeys  prometheus.Counter
	Statements     *prometheus.CounterVec
	TrustExpiresIn *prometheus.GaugeVec // no labels: absent until a trust list is held (a 0 would fire the expiry alert)
	Deleted        *prometheus.CounterVec
	Receipts       *prometheus.CounterVec // see receiptMetric
	AuditFailures  prometheus.Counter
	AuditLost      prometheus.Counter
	OutboxPoisoned prometheus.Gauge
	BulkLines      *prometheus.CounterVec // lines of POST /v1/statuses, by result
	TokenReads     prometheus.Counter     // bearer tokens looked up in the database
	OperatorReads  *prometheus.CounterVec // operators' reads of residents' records, by kind and result (reads.go)
	AccessRefused  *prometheus.CounterVec // tokens refused a route as forbidden, by role, audited or not (refusals.go)
	// ErasuresPending and Erasures are the erasure outbox (erasure.go).
	ErasuresPending prometheus.Gauge
	Erasures        *prometheus.CounterVec
	// PeerLookups counts other provinces' lookup requests this node
	// refused or did not take, and answers to its own lookups it refused
	// (peerintake.go, lookup.go).
	PeerLookups *prometheus.CounterVec
	// ReplicaKeys counts verifier replicas' key registrations at home, by
	// result (replicas.go: Replicas.Register).
	ReplicaKeys *prometheus.CounterVec
}

// NewMetrics registers the node's metrics on a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	lat := []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	m := &Metrics{
		Registry: r,
		Issued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_codes_issued_total",
			Help: "Health codes issued, by kind (phone or paper)."}, []string{"kind"}),
		Verified: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_verifications_total",
			Help: "Code verifications, by issuing province and result reason."}, []string{"issuer", "reason"}),
		VerifySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hcfed_verify_duration_seconds",
			Help: "Time to verify one code.", Buckets: lat}),
		IssueSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hcfed_issue_duration_seconds",
			Help: "Time to issue one code, including the database write.", Buckets: lat}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_http_requests_total",
			Help: "HTTP requests, by route and status code."}, []string{"route", "code"}),
		HTTPSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hcfed_http_request_duration_seconds",
			Help: "HTTP request latency, by route.", Buckets: lat}, []string{"route"}),
		StatusChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_status_changes_total",
			Help: "Health status changes."}),
		Revoked: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_codes_revoked_total",
			Help: "Codes of this province revoked."}),
		OutboxPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_revocation_outbox_pending",
			Help: "Revocation statements committed but not yet acknowledged by NATS."}),
		KeyRotations: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_key_rotations_total",
			Help: "Signing-key rotations."}),
		ContentRekeys: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_content_key_rekeys_total",
			Help: "New content keys started at once: for a compromised signing key, because the trust list suspended or removed a member that held the current ones, or at an admin's request (hcnode keys rekey-content)."}),
		Statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_statements_total",
			Help: "Statements received from the federation, by kind and result reason."}, []string{"kind", "reason"}),
		TrustExpiresIn: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hcfed_trustlist_expires_in_seconds",
			Help: "Seconds until the held trust list expires; absent while the node holds none (standalone)."}, nil),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_deletions_total",
			Help: "Records deleted, by kind and cause."}, []string{"kind", "cause"}),
		AuditFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_audit_write_failures_total",
			Help: "Failed attempts to write a batch of audit entries; the batch is retried."}),
		AuditLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_audit_entries_lost_total",
			Help: "Audit entries that could not be written at all (database closed); should stay 0."}),
	}
	for _, c := range []prometheus.Collector{m.Issued, m.Verified, m.VerifySeconds, m.IssueSeconds, m.HTTPRequests,
		m.HTTPSeconds, m.StatusChanges, m.Revoked, m.OutboxPending, m.KeyRotations, m.ContentRekeys, m.Statements, m.TrustExpiresIn, m.Deleted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	// The runbook's alert is increase(...{kind="trustlist",reason!="ok"}[15m]) > 0,
	// and increase sees no rise in a series that did not exist before:
	// without these zeros, the first refused trust list would not fire it.
	for _, reason := range trust.TrustListRefusals() {
		m.Statements.WithLabelValues(string(federation.KindTrustList), string(reason))
	}
	m.Receipts = receiptMetric(r)
	m.HTTPConnections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_http_connections_open",
		Help: "HTTP connections open on the public listener (listen), idle keep-alive ones included."})
	m.HTTPConnectionsMax = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_http_connections_max",
		Help: "limits.max_connections: past it, new connections wait until one closes."})
	f(m.HTTPConnections)
	f(m.HTTPConnectionsMax)
	r.MustRegister(m.AuditFailures, m.AuditLost)
	m.OutboxPoisoned = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_revocation_outbox_poisoned",
		Help: "Revocation statements set aside because they can never be published; peers get their codes from snapshots."})
	f(m.OutboxPoisoned)
	m.BulkLines = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_bulk_lines_total",
		Help: "Lines of bulk status changes, by result (applied, unchanged, refused); counted once committed."}, []string{"result"})
	f(m.BulkLines)
	m.TokenReads = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_token_reads_total",
		Help: "Bearer tokens (and replica tokens) looked up in the database: those neither cached nor refused unread. Guessed tokens do not raise it."})
	f(m.TokenReads)
	m.OperatorReads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_operator_reads_total",
		Help: "Operators' reads of residents' records, by kind and result (allowed, or refused past limits.operator_read_rate): " +
			"alert on any refused, or on an allowed rate far above the desk's usual pace."}, []string{"kind", "result"})
	f(m.OperatorReads)
	startReadsMetric(m.OperatorReads)
	m.AccessRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_access_refused_total",
		Help: "Tokens refused a route as forbidden, by role; each is counted, though at most one per token owner and route " +
			"a minute is written to the audit log (access.refused)."}, []string{"role"})
	f(m.AccessRefused)
	for _, role := range refusalRoles {
		m.AccessRefused.WithLabelValues(string(role))
	}
	m.ErasuresPending = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_erasures_pending",
		Help: "Erasures of deleted residents' contact data waiting to be acknowledged by the provinces that looked them up."})
	m.Erasures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_erasures_total",
		Help: "Erasures sent and acknowledged, attempts failed (tried again later), erasures expired unacknowledged " +
			"and erasures dropped (the outbox full); erasures received and refused (forged, or replays) and " +
			"received and not applied (past the sending province's rate)."}, []string{"event"})
	f(m.ErasuresPending)
	f(m.Erasures)
	// Every event from 0, so that rate() and increase() see the first.
	for _, ev := range []string{erasureSent, erasureFailed, erasureExpired, erasureDropped, erasureRefused, erasureLimited} {
		m.Erasures.WithLabelValues(ev)
	}
	m.PeerLookups = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_peer_lookups_total",
		Help: "Lookup requests from other provinces refused (forged, or replays) and not taken (verified, past the " +
			"asking province's rate); answers to this node's own lookups refused (forged, or not to the request asked)."},
		[]string{"event"})
	f(m.PeerLookups)
	for _, ev := range []string{intakeRefused, intakeLimited, lookupAnswerRefused} {
		m.PeerLookups.WithLabelValues(ev)
	}
	m.ReplicaKeys = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_replica_key_registrations_total",
		Help: "Verifier replicas' registrations of their keys, by result: held (nothing written: keys home held, or a grandfathered replica's enc key past the bound), new " +
			"(keys it did not hold, written and audited as replica.keys), refused (past the keys a replica may register " +
			"unconfirmed, replica_keys_limit), conflict (other keys than the confirmed ones) and expired (held unconfirmed past " +
			"limits.replica_keys_window, dropped: one per key set). Alert on any refused " +
			"or conflict, or on new rising: a replica makes its keys once, so someone else may hold its token."},
		[]string{"result"})
	f(m.ReplicaKeys)
	for _, res := range []string{replicaKeysHeld, replicaKeysNew, replicaKeysRefused, replicaKeysConflict, replicaKeysExpired} {
		m.ReplicaKeys.WithLabelValues(res)
	}
	return m
}

// RegisterNATSCluster exports the NATS side of the federation as read by
// info (false: not connected yet): the connection, its server and
// cluster, reconnects, and each JetStream asset's replica health.
func (m *Metrics) RegisterNATSCluster(info func() (federation.ClusterInfo, bool)) {
	m.Registry.MustRegister(&natsCollector{info: info})
}

var (
	natsConnectedDesc = prometheus.NewDesc("hcfed_nats_connected",
		"1 while the node's NATS connection is up: conn=\"sync\" carries the revocation and state sync (readiness needs it), "+
			"conn=\"services\" the lookups, receipts and snapshot requests other members send.", []string{"conn"}, nil)
	natsReconnectsDesc = prometheus.NewDesc("hcfed_nats_reconnects_total",
		"Reconnections of the node's NATS connection (to the same or another server of the cluster), by conn (sync, services).", []string{"conn"}, nil)
	natsServerDesc = prometheus.NewDesc("hcfed_nats_connected_server_info",
		"1 for the NATS server the node is connected to, by server and cluster name.", []string{"server", "cluster"}, nil)
	jsReplicasDesc = prometheus.NewDesc("hcfed_jetstream_replicas",
		"Configured JetStream replicas of each federation asset (state, revocations, snapshots).", []string{"asset"}, nil)
	jsCurrentDesc = prometheus.NewDesc("hcfed_jetstream_replicas_current",
		"Replicas of each federation asset up to date with its leader, the leader included; 0 when unreadable.", []string{"asset"}, nil)
	jsAvailableDesc = prometheus.NewDesc("hcfed_jetstream_asset_available",
		"1 while a federation asset has a leader and a quorum of current replicas (it accepts writes).", []string{"asset"}, nil)
)

// Values of hcfed_nats_connected's and hcfed_nats_reconnects_total's conn
// label: a node's sync and services have a NATS connection each
// (federation.ConnConfig.ServicesConn).
const (
	natsConnSync     = "sync"
	natsConnServices = "services"
)

// natsCollector reads the cluster info on each scrape.
type natsCollector struct {
	info func() (federation.ClusterInfo, bool)
}

// Describe sends the collector's descriptors.
func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{natsConnectedDesc, natsReconnectsDesc, natsServerDesc, jsReplicasDesc, jsCurrentDesc, jsAvailableDesc} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	info, ok := c.info()
	connected := func(conn string, up bool, reconnects uint64) {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(natsConnectedDesc, prometheus.GaugeValue, v, conn)
		ch <- prometheus.MustNewConstMetric(natsReconnectsDesc, prometheus.CounterValue, float64(reconnects), conn)
	}
	connected(natsConnSync, ok && info.Connected, info.Reconnects)
	if !ok || info.Services != nil {
		svc := info.Services
		if svc == nil {
			svc = &federation.ServicesConnInfo{}
		}
		connected(natsConnServices, svc.Connected, svc.Reconnects)
	}
	if !ok {
		return
	}
	if info.Connected {
		ch <- prometheus.MustNewConstMetric(natsServerDesc, prometheus.GaugeValue, 1, info.Server, info.Cluster)
	}
	for _, s := range info.Streams {
		avail := 0.0
		if s.Available() {
			avail = 1
		}
		ch <- prometheus.MustNewConstMetric(jsReplicasDesc, prometheus.GaugeValue, float64(s.Replicas), s.Asset)
		ch <- prometheus.MustNewConstMetric(jsCurrentDesc, prometheus.GaugeValue, float64(s.Current), s.Asset)
		ch <- prometheus.MustNewConstMetric(jsAvailableDesc, prometheus.GaugeValue, avail, s.Asset)
	}
}

// watchIssueCache exports db's issuance-cache hits and misses as
// hcfed_issue_cache_requests_total{result}. Metrics shared by several
// nodes (tests) export the first one's.
func (m *Metrics) watchIssueCache(db *store.DB) {
	for _, result := range []string{"hit", "miss"} {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_issue_cache_requests_total",
			Help:        "Issuance's reads of a resident, by whether the issuance cache (codes.issue_cache) answered.",
			ConstLabels: prometheus.Labels{"result": result}}, func() float64 {
			hits, misses := db.IssueCacheStats()
			if result == "hit" {
				return float64(hits)
			}
			return float64(misses)
		})
		if err := m.Registry.Register(c); err != nil {
			return
		}
	}
}
