package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// settingsVerifier is refusingVerifier with settings of its own.
type settingsVerifier struct {
	refusingVerifier
	cfg config.Config
}

func (v settingsVerifier) Settings() config.Config { return v.cfg }

// GET /metrics on the public listener: with a metrics token (and no
// metrics_listen), served only to a request that carries it as a bearer
// token, else 401 metrics_token_required with WWW-Authenticate; with
// metrics_listen, or with neither, 404 metrics_not_public, token or not.
// Before, a node without metrics_listen served /metrics to anyone.
func TestPublicMetricsAskForTheMetricsToken(t *testing.T) {
	const token = "c2VjcmV0LW1ldHJpY3MtdG9rZW4tZm9yLWEtdGVzdC0xMjM0NQ=="
	withListen := config.Default("440000")
	withListen.MetricsListen = config.DefaultMetricsListen
	for name, tc := range map[string]struct {
		cfg           config.Config
		token, header string
		status        int
		code          string // error code; "" for the metrics
	}{
		"token":               {config.Default("440000"), token, "Bearer " + token, 200, ""},
		"no header":           {config.Default("440000"), token, "", 401, "metrics_token_required"},
		"another token":       {config.Default("440000"), token, "Bearer " + strings.ToLower(token), 401, "metrics_token_required"},
		"a prefix":            {config.Default("440000"), token, "Bearer " + token[:40], 401, "metrics_token_required"},
		"basic":               {config.Default("440000"), token, "Basic " + token, 401, "metrics_token_required"},
		"metrics_listen":      {withListen, "", "Bearer " + token, 404, "metrics_not_public"},
		"neither":             {config.Default("440000"), "", "", 404, "metrics_not_public"},
		"neither, any bearer": {config.Default("440000"), "", "Bearer ", 404, "metrics_not_public"},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewVerifier(VerifierConfig{Verifier: settingsVerifier{refusingVerifier{m: node.NewMetrics()}, tc.cfg}, MetricsToken: tc.token})
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			s.echo.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("HTTP %d %.200s, want %d", rec.Code, body, tc.status)
			}
			if tc.code == "" {
				if !strings.Contains(body, "hcfed_http_requests_total") {
					t.Fatalf("no metrics in %.200s", body)
				}
				return
			}
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != tc.code || strings.Contains(body, "hcfed_") ||
				strings.Contains(body, token) {
				t.Fatalf("body %s (%v), want error %s without metrics or the token", body, err, tc.code)
			}
			if auth := rec.Header().Get("WWW-Authenticate"); (tc.status == 401) != (auth == `Bearer realm="metrics"`) {
				t.Errorf("WWW-Authenticate %q on a %d", auth, tc.status)
			}
		})
	}
}
