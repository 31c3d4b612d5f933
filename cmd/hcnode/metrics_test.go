package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A standalone node holds no trust list: it exports no
// hcfed_trustlist_expires_in_seconds rather than a 0 that would fire the
// "expires within a week" alert the README suggests.
func TestStandaloneNodeExportsNoTrustListExpiry(t *testing.T) {
	n := startTestNode(t)
	resp, err := http.Get(n.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	if !strings.Contains(string(b), "\nhcfed_status_changes_total 0\n") {
		t.Fatalf("GET /metrics lacks the node's metrics:\n%s", b)
	}
	if strings.Contains(string(b), "hcfed_trustlist_expires_in_seconds") {
		t.Errorf("a node without a trust list exports hcfed_trustlist_expires_in_seconds:\n%s", grepLines(string(b), "hcfed_trustlist"))
	}
}

// A node made by init serves /metrics on a loopback listener of its own
// (metrics_listen), and its public listener answers /metrics 404: the
// per-province counts are not served to whoever reaches the node.
// Before, init wrote no metrics_listen and /metrics was public.
func TestInitServesMetricsOnALoopbackListenerOfItsOwn(t *testing.T) {
	n := startTestNode(t)
	if !strings.HasPrefix(n.MetricsURL, "http://127.0.0.1:") || strings.HasPrefix(n.MetricsURL, n.URL) {
		t.Fatalf("metrics at %s, want a loopback listener other than %s", n.MetricsURL, n.URL)
	}
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: %d, want 404", resp.StatusCode)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
