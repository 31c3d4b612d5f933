package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the node's Prometheus metrics, on a registry of its own so
// several nodes can run in one process (demo, tests).
type Metrics struct {
	Registry       *prometheus.Registry
	Issued         *prometheus.CounterVec
	Verified       *prometheus.CounterVec
	VerifySeconds  prometheus.Histogram
	IssueSeconds   prometheus.Histogram
	HTTPRequests   *prometheus.CounterVec
	HTTPSeconds    *prometheus.HistogramVec
	StatusChanges  prometheus.Counter
	Revoked        prometheus.Counter
	OutboxPending  prometheus.Gauge
	KeyRotations   prometheus.Counter
	Statements     *prometheus.CounterVec
	TrustExpiresIn prometheus.Gauge
	Deleted        *prometheus.CounterVec
	Receipts       *prometheus.CounterVec // see receiptMetric
	AuditFailures  prometheus.Counter
	AuditLost      prometheus.Counter
	OutboxPoisoned prometheus.Gauge
	BulkLines      *prometheus.CounterVec // lines of POST /v1/statuses, by result
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
		Statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_statements_total",
			Help: "Statements received from the federation, by kind and result reason."}, []string{"kind", "reason"}),
		TrustExpiresIn: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_trustlist_expires_in_seconds",
			Help: "Seconds until the held trust list expires."}),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_deletions_total",
			Help: "Records deleted, by kind and cause."}, []string{"kind", "cause"}),
		AuditFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_audit_write_failures_total",
			Help: "Failed attempts to write a batch of audit entries; the batch is retried."}),
		AuditLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_audit_entries_lost_total",
			Help: "Audit entries that could not be written at all (database closed); should stay 0."}),
	}
	for _, c := range []prometheus.Collector{m.Issued, m.Verified, m.VerifySeconds, m.IssueSeconds, m.HTTPRequests,
		m.HTTPSeconds, m.StatusChanges, m.Revoked, m.OutboxPending, m.KeyRotations, m.Statements, m.TrustExpiresIn, m.Deleted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	m.Receipts = receiptMetric(r)
	r.MustRegister(m.AuditFailures, m.AuditLost)
	m.OutboxPoisoned = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcfed_revocation_outbox_poisoned",
		Help: "Revocation statements set aside because they can never be published; peers get their codes from snapshots."})
	f(m.OutboxPoisoned)
	m.BulkLines = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_bulk_lines_total",
		Help: "Lines of bulk status changes, by result (applied, unchanged, refused); counted once committed."}, []string{"result"})
	f(m.BulkLines)
	return m
}
