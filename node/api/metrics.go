package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// metricsPath is where Prometheus reads a node's metrics.
const metricsPath = "/metrics"

// metricsRoute serves GET /metrics on the public listener to the bearer
// of token, the node's metrics token (metrics_token_file), and to no one
// else (401 metrics_token_required). It answers 404 metrics_not_public
// when metrics_listen names a listener of its own (MetricsServer), and
// when neither that nor a token is configured: the per-province counts
// (issuance, verifications by issuer and reason, refusals, peers) are
// never served to whoever reaches the node. It returns the token the
// route asks for, which SetMetricsToken replaces; nil when it asks for
// none.
func metricsRoute(e *echo.Echo, m *node.Metrics, settings config.Config, token string) *metricsToken {
	switch {
	case settings.MetricsListen != "":
		e.GET(metricsPath, func(echo.Context) error {
			return node.Errorf(node.EMetricsNotPublic, "/metrics is served on the node's metrics listener (metrics_listen), not here")
		})
		return nil
	case token == "":
		e.GET(metricsPath, func(echo.Context) error {
			return node.Errorf(node.EMetricsNotPublic, "/metrics is served nowhere: the node's config sets neither metrics_listen "+
				"nor metrics_token_file")
		})
		return nil
	}
	want := &metricsToken{}
	want.set(token)
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	e.GET(metricsPath, func(c echo.Context) error {
		got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(sum[:], want.sum.Load()[:]) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return node.Errorf(node.EMetricsTokenRequired, "/metrics is served here only with the node's metrics token "+
				"(metrics_token_file) as a bearer token")
		}
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	return want
}

// metricsToken is the metrics token GET /metrics asks for, as its
// SHA-256 (the token itself is not kept), replaced whole when the daemon
// reads metrics_token_file again (SIGHUP): a request sees the old token
// or the new one.
type metricsToken struct {
	sum atomic.Pointer[[sha256.Size]byte]
}

// set makes token the one asked for, and reports whether it was
// another.
func (t *metricsToken) set(token string) (changed bool) {
	sum := sha256.Sum256([]byte(token))
	old := t.sum.Swap(&sum)
	return old == nil || *old != sum
}

// ErrNoMetricsToken is SetMetricsToken's refusal on a server whose
// /metrics asks for no token: it is served on metrics_listen, or
// nowhere, as the node started; a restart changes that.
var ErrNoMetricsToken = errors.New("this listener serves /metrics to no bearer token (metrics_listen is set, or metrics_token_file is not): " +
	"a restart with metrics_token_file set makes it ask for one")

// SetMetricsToken makes token the bearer token GET /metrics asks for on
// this listener from the next request on, and reports whether it is
// another than the one asked for until then. The daemon calls it when it
// reads metrics_token_file again (SIGHUP), having checked the token as at
// start (config.ReadMetricsToken). ErrNoMetricsToken if this listener
// serves /metrics to no token; an error for an empty token, which is
// never taken.
func (s *Server) SetMetricsToken(token string) (changed bool, err error) {
	if s.mtoken == nil {
		return false, ErrNoMetricsToken
	}
	if token == "" {
		return false, errors.New("metrics token: empty; the one in use is kept")
	}
	return s.mtoken.set(token), nil
}

// MetricsServer serves GET /metrics alone, in plain HTTP, on the
// listener metrics_listen names; every other path is 404.
type MetricsServer struct {
	mux     *http.ServeMux
	timeout time.Duration
}

// NewMetricsServer serves m's registry; shutdownTimeout bounds Serve's
// drain as Config.ShutdownTimeout does.
func NewMetricsServer(m *node.Metrics, shutdownTimeout time.Duration) *MetricsServer {
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return &MetricsServer{mux: mux, timeout: shutdownTimeout}
}

// Handler is the metrics server as an http.Handler, for tests.
func (s *MetricsServer) Handler() http.Handler { return s.mux }

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *MetricsServer) Serve(ctx context.Context, l net.Listener) error {
	return serve(ctx, l, s.mux, s.timeout, nil)
}
