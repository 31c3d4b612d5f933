package daemon_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// operatorDocs are the files a province's IT staff read to wire their
// monitoring: every metric they name, with the labels they name, must be
// on /metrics.
var operatorDocs = []string{"README.md", "docs/runbook.md", "docs/privacy.md"}

// docMetricRE finds a metric name, with its label selector if one follows.
// The name must not continue a longer word or a NATS subject
// (`$O.hcfed_demo_snap...`, `KV_hcfed_demo`), which are not metrics.
var docMetricRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.$])(hcfed_[a-z0-9_]*[a-z0-9])(\{[^}\n]*\})?`)

// docMatcherRE is one item of a selector: a label name alone (the label
// exists), or a PromQL matcher. A value of "..." stands for any value.
var docMatcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:(=~|!~|!=|=)\s*"([^"]*)")?\s*$`)

// docSelector is a metric reference found in the docs.
type docSelector struct {
	file, text string
	name       string
	matchers   []docMatcher
}

type docMatcher struct{ label, op, value string }

// matches reports whether a series with labels would be selected.
func (m docMatcher) matches(labels map[string]string) bool {
	v, ok := labels[m.label]
	if !ok {
		return false
	}
	switch m.op {
	case "":
		return true
	case "=":
		return m.value == "..." || v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return regexp.MustCompile("^(?:" + m.value + ")$").MatchString(v)
	default: // !~
		return !regexp.MustCompile("^(?:" + m.value + ")$").MatchString(v)
	}
}

// docSelectors reads every metric reference of the operator docs.
func docSelectors(t *testing.T) []docSelector {
	t.Helper()
	var out []docSelector
	for _, f := range operatorDocs {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range docMetricRE.FindAllStringSubmatch(string(b), -1) {
			s := docSelector{file: f, text: m[1] + m[2], name: m[1]}
			if m[2] != "" {
				for _, item := range strings.Split(strings.Trim(m[2], "{}"), ",") {
					g := docMatcherRE.FindStringSubmatch(item)
					if g == nil {
						t.Fatalf("%s: %s: cannot read the selector item %q", f, s.text, item)
					}
					s.matchers = append(s.matchers, docMatcher{label: g[1], op: g[2], value: g[3]})
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// scrape reads the metrics page at url as metric families.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// selects reports whether some series of families matches s.
func (s docSelector) selects(families map[string]*dto.MetricFamily) bool {
	mf, ok := families[s.name]
	if !ok {
		return false
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if !slices.ContainsFunc(s.matchers, func(dm docMatcher) bool { return !dm.matches(labels) }) {
			return true
		}
	}
	return false
}

// Every metric the README and the runbook tell an operator to watch or
// alert on is exported, by a node after a little traffic (or, for
// hcfed_replica_*, by a verifier replica), with a series each selector of
// the docs selects: an alert on a series that appears only after its
// first event (hcfed_statements_total{kind="trustlist",reason!="ok"})
// stays silent on that event, since increase() sees no rise from a
// series that did not exist. It fails when a doc names a metric or a
// label the node does not export, and when the node or the replica
// exports an hcfed_ metric no doc names.
func TestEveryMetricTheDocsNameIsExported(t *testing.T) {
	t.Parallel()
	sels := docSelectors(t)
	if len(sels) < 20 {
		t.Fatalf("only %d metric references in %v: is the pattern still right?", len(sels), operatorDocs)
	}
	f := startFederation(t, threeProvinces[:1], nil)
	rt := &replicaTest{fedTest: f}
	r := rt.startReplica(0, "r1")
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	f.setStatus(0, subject, "red")
	if got := f.verify(0, code); got != "revoked" {
		t.Fatalf("verify after the status change: %q", got)
	}
	// A bulk line (one JSON object is one NDJSON line) and a deletion,
	// whose counters have no series before their first event.
	if st := f.call(0, "POST", "/v1/statuses", f.c.Tokens[0], map[string]string{"subject": subject, "status": "yellow"}, nil); st != http.StatusOK {
		t.Fatalf("POST /v1/statuses: %d", st)
	}
	if st := f.call(0, "DELETE", "/v1/subjects/"+subject, f.c.Tokens[0], nil, nil); st != http.StatusNoContent {
		t.Fatalf("DELETE the subject: %d", st)
	}
	// README: /healthz is the process, /readyz {"status":"ready"} once
	// connected and caught up; the same on a replica.
	for _, base := range []string{f.c.Nodes[0].URL, r.URL} {
		if st, body := httpDo(t, "GET", base+"/healthz", "", nil); st != http.StatusOK || strings.TrimSpace(body) != `{"status":"ok"}` {
			t.Errorf("GET %s/healthz: %d %s, want 200 {\"status\":\"ok\"}", base, st, body)
		}
		waitFor(t, base+"/readyz answering 200 {\"status\":\"ready\"}", func() error {
			if st, body := httpDo(t, "GET", base+"/readyz", "", nil); st != http.StatusOK || strings.TrimSpace(body) != `{"status":"ready"}` {
				return fmt.Errorf("%d %s", st, body)
			}
			return nil
		})
	}
	var missing []string
	err := poll(15*time.Second, 50*time.Millisecond, func() error {
		node, err := scrape(f.c.Nodes[0].MetricsURL)
		if err != nil {
			return err
		}
		replica, err := scrape(r.MetricsURL)
		if err != nil {
			return err
		}
		missing = missing[:0]
		for _, name := range undocumented(sels, node, replica) {
			missing = append(missing, "exported but named in none of "+strings.Join(operatorDocs, ", ")+": "+name)
		}
		for _, s := range sels {
			where, families := "node", node
			// A one-province federation: only the replica checks how
			// current a province's revocations are (its own province's).
			if strings.HasPrefix(s.name, "hcfed_replica_") || strings.HasPrefix(s.name, "hcfed_revocations_") {
				where, families = "replica", replica
			}
			if !s.selects(families) {
				missing = append(missing, fmt.Sprintf("%s: %s (on the %s)", s.file, s.text, where))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d missing", len(missing))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("metrics the docs name that no series matches, or exported and not named:\n%s", strings.Join(slices.Compact(missing), "\n"))
	}
}

// undocumented lists the hcfed_ metric families of the scrapes that no
// selector of the docs names: a metric nobody is told of is one nobody
// alerts on (hcfed_federation_cache_write_failures_total was exported
// and named only in docs/design-changes.md).
func undocumented(sels []docSelector, scrapes ...map[string]*dto.MetricFamily) []string {
	named := map[string]bool{}
	for _, s := range sels {
		named[s.name] = true
	}
	var out []string
	for _, families := range scrapes {
		for name := range families {
			if strings.HasPrefix(name, "hcfed_") && !named[name] && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}
