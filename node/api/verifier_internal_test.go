package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// refusingVerifier is a verifier replica that refuses every code as
// forbidden: all the error handler needs of one.
type refusingVerifier struct{ m *node.Metrics }

func (refusingVerifier) Authenticate(context.Context, string) (node.Principal, error) {
	return node.Principal{Role: node.RoleScanner, ScannerID: "sc_1"}, nil
}

func (refusingVerifier) Verify(context.Context, node.Principal, string) (node.Verification, error) {
	return node.Verification{}, node.Errorf(node.EForbidden, "this scanner may not verify here")
}
func (refusingVerifier) Ready(context.Context) error { return nil }
func (v refusingVerifier) Metrics() *node.Metrics    { return v.m }
func (refusingVerifier) Settings() config.Config     { return config.Default("440000") }

// A verifier replica has no node to audit a refusal with: a forbidden
// answer to a request that carries a principal (a scanner's, here) is
// a 403, not a call on a missing node. Before, the error handler called
// RecordRefusal on the replica's nil node, which dereferenced it as soon
// as the principal was one refusals are recorded for.
func TestVerifierAnswersForbiddenWithAPrincipalWithoutANode(t *testing.T) {
	s := NewVerifier(VerifierConfig{Verifier: refusingVerifier{m: node.NewMetrics()}})
	s.echo.GET("/probe", func(c echo.Context) error {
		c.Set("principal", node.Principal{Role: node.RoleScanner, ScannerID: "sc_1"})
		return node.Errorf(node.EForbidden, "not for this scanner")
	})
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("a forbidden answer on a verifier replica panicked: %v", r)
			}
		}()
		s.echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe", nil))
	}()
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %s", rec.Code, rec.Body)
	}
}

// A verifier replica's answers, its refusal of every other route
// included, carry the same security headers as a home node's.
func TestVerifierAnswersCarryTheSecurityHeaders(t *testing.T) {
	s := NewVerifier(VerifierConfig{Verifier: refusingVerifier{m: node.NewMetrics()}})
	for _, path := range []string{"/healthz", "/wallet", "/no-such-page"} {
		rec := httptest.NewRecorder()
		s.echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		h := rec.Header()
		if h.Get("Content-Security-Policy") != answerCSP || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s (%d): Content-Security-Policy %q, X-Content-Type-Options %q, X-Frame-Options %q", path, rec.Code,
				h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"))
		}
	}
}
