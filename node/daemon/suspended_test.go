package daemon_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// A province that the trust list it holds suspends knows it: it logs a
// warning once per version that suspends it (not per request), sets
// hcfed_province_suspended, and says so on GET /v1/federation. Its own
// verifier answers issuer_suspended for its codes as its peers do;
// issuance goes on, and those codes verify everywhere once it is
// reinstated, when the gauge and the view clear and it logs that once.
func TestSuspendedProvinceLogsOnceSetsGaugeReportsAndClearsOnReinstatement(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	gd, sh := f.c.Nodes[0], f.c.Nodes[1]
	const gauge = "hcfed_province_suspended"
	if got := metricValue(t, gd, gauge); got != 0 {
		t.Fatalf("%s before any suspension: %v", gauge, got)
	}
	ops := f.c.Operators

	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "suspend", ID: "440000"}), ops[0], ops[1]))
	f.waitVersion(2)
	f.requireLine(logs, "this province is suspended", "440000")
	f.waitMetric(gd, gauge, 1)
	if got := metricValue(t, sh, gauge); got != 0 {
		t.Errorf("%s in Shanghai, which is not suspended: %v", gauge, got)
	}
	f.requireSelfSuspended(0, true)
	f.requireSelfSuspended(1, false)
	// The home node answers for its own codes what its peers answer.
	for i := range f.c.Nodes {
		f.eventually(i, code, "issuer_suspended")
	}
	during := f.issue(0, subject)
	for i := range f.c.Nodes {
		if got := f.verify(i, during); got != "issuer_suspended" {
			t.Errorf("code issued while suspended, in %s: %s", f.c.Configs[i].Province, got)
		}
	}

	// A later version that still suspends it is logged once more; the
	// requests above were not.
	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "expires", Duration: 90 * 24 * time.Hour}), ops[1], ops[2]))
	f.waitVersion(3)
	waitFor(t, "Guangdong warning once for v2 and once for v3", func() error {
		if got := suspendedVersions(t, logs); got != "2,3" {
			return fmt.Errorf("warned for versions %q", got)
		}
		return nil
	})

	f.publish(signWith(t, propose(t, f.held().TrustList, time.Now(), trust.Change{Op: "reinstate", ID: "440000"}), ops[0], ops[2]))
	f.waitVersion(4)
	f.requireLine(logs, "this province is no longer suspended", "440000")
	f.waitMetric(gd, gauge, 0)
	f.requireSelfSuspended(0, false)
	for i := range f.c.Nodes {
		f.eventually(i, during, "ok")
	}
	if got := suspendedVersions(t, logs); got != "2,3" {
		t.Errorf("after reinstatement, warned for versions %q, want 2,3", got)
	}
}

// requireSelfSuspended checks GET /v1/federation of node i: self_suspended
// and a warning that names the province, or neither.
func (f *fedTest) requireSelfSuspended(i int, want bool) {
	f.t.Helper()
	var v struct {
		SelfSuspended  bool `json:"self_suspended"`
		Warnings       []string
		WarningDetails []federation.Warning `json:"warning_details"`
	}
	if st := f.call(i, "GET", "/v1/federation", "", nil, &v); st != 200 {
		f.t.Fatalf("GET /v1/federation: %d", st)
	}
	self := f.c.Configs[i].Province
	warned := containsPrefix(v.Warnings, "this province ("+self+") is suspended")
	coded := slices.ContainsFunc(v.WarningDetails, func(w federation.Warning) bool {
		return w.Code == federation.WarningSelfSuspended && w.Params["province"] == self && w.Params["version"] != ""
	})
	if v.SelfSuspended != want || warned != want || coded != want {
		f.t.Errorf("%s /v1/federation: self_suspended %v, warning %v (%q), coded %v (%+v), want %v",
			self, v.SelfSuspended, warned, v.Warnings, coded, v.WarningDetails, want)
	}
}

// suspendedVersions lists, comma-separated, the trust-list versions for
// which Guangdong logged that it is suspended.
func suspendedVersions(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	var vs []string
	for _, l := range logs.lines(t) {
		if m, _ := l["msg"].(string); strings.HasPrefix(m, "this province is suspended") && l["province"] == "440000" {
			if l["level"] != "WARN" {
				t.Errorf("suspension logged at %v, want WARN", l["level"])
			}
			vs = append(vs, fmt.Sprint(l["version"]))
		}
	}
	return strings.Join(vs, ",")
}
