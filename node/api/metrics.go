package api

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// metricsPath is where Prometheus reads a node's metrics.
const metricsPath = "/metrics"

// metricsRoute serves GET /metrics on the public listener, unless
// metrics_listen names a listener of its own (MetricsServer): the public
// one then answers it 404, as it does a path it does not know, so that
// the per-province counts are not served to whoever reaches the node.
func metricsRoute(e *echo.Echo, m *node.Metrics, settings config.Config) {
	if settings.MetricsListen != "" {
		e.GET(metricsPath, func(echo.Context) error { return echo.ErrNotFound })
		return
	}
	e.GET(metricsPath, echo.WrapHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})))
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
