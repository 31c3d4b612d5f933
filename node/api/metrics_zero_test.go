package api_test

import (
	"bytes"
	"strings"
	"testing"
)

// TestHTTPServerErrorsStartAtZero: before any request reached a route,
// /metrics already has its 5xx series at 0, so that an operator's
// increase(hcfed_http_requests_total{code=~"5.."}[5m]) > 0 fires on the
// first burst of errors (increase sees no rise in a series that appears
// with its first error); and only the 5xx codes the node answers with
// start at 0, not every status for every route.
func TestHTTPServerErrorsStartAtZero(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	var b bytes.Buffer
	if _, err := b.ReadFrom(n.call("GET", "/metrics", n.metricsToken, nil, nil).Body); err != nil {
		t.Fatal(err)
	}
	scraped := b.String()
	for _, route := range []string{"/v1/verify", "/v1/subjects", "/v1/subjects/:id/codes", "/v1/subjects/:id/status",
		"/v1/statuses", "/readyz", "/v1/privacy"} {
		for _, code := range []string{"500", "503"} {
			want := `hcfed_http_requests_total{code="` + code + `",route="` + route + `"} 0` + "\n"
			if !strings.Contains(scraped, want) {
				t.Errorf("/metrics before any request to %s lacks %q", route, want)
			}
		}
	}
	if strings.Contains(scraped, `code="404",route="/v1/verify"`) || strings.Contains(scraped, `code="200",route="/v1/verify"`) {
		t.Errorf("/metrics has series for statuses no request was answered with (other than 500 and 503):\n%s", scraped)
	}
}
