package daemon

import (
	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/trust"
	"github.com/prometheus/client_golang/prometheus"
)

// selfSuspension reports whether the trust list held suspends this
// node's own province, and the list's version (0 when none is held).
func (f *fed) selfSuspension() (bool, uint64) {
	tl := f.n.State().TrustList()
	if tl == nil {
		return false, 0
	}
	m, ok := tl.Members[f.cfg.Province]
	return ok && m.Status == trust.MemberSuspended, tl.Version
}

// checkSelfSuspended logs, once per trust-list version that suspends this
// province, that it is suspended: every verifier, this node's own
// included, answers issuer_suspended for its codes until the operators
// reinstate it. It logs the reinstatement once too. It runs whenever a
// trust list is applied and with the expiry watch, so a node that starts
// holding such a list says so at once.
func (f *fed) checkSelfSuspended() {
	suspended, version := f.selfSuspension()
	f.expiryMu.Lock()
	defer f.expiryMu.Unlock()
	switch {
	case suspended && f.suspendedAt != version:
		f.suspendedAt = version
		f.log.Warn("this province is suspended from the federation: every node, this one included, refuses its codes (issuer_suspended) until the operators reinstate it",
			"kind", string(federation.KindTrustList), "version", version)
	case !suspended && f.suspendedAt != 0:
		f.suspendedAt = 0
		f.log.Info("this province is no longer suspended from the federation: its codes verify again",
			"kind", string(federation.KindTrustList), "version", version)
	}
}

// registerSuspendedMetric exports hcfed_province_suspended, read from the
// trust list held at each scrape.
func (f *fed) registerSuspendedMetric(r *prometheus.Registry) {
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_province_suspended",
		Help: "1 while the trust list held suspends this node's own province (every node refuses its codes: issuer_suspended), else 0."},
		func() float64 {
			if s, _ := f.selfSuspension(); s {
				return 1
			}
			return 0
		}))
}
