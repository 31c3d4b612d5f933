package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/replica"
	"github.com/hcfed/hcfed/trust"
)

// Ready reports whether the node can serve; nil means ready. The
// federation layer supplies one that checks its connection.
type Ready func(ctx context.Context) error

// Config wires a Server.
type Config struct {
	Node   *node.Node
	Logger *slog.Logger
	Ready  Ready // optional extra readiness check
	// Federation answers GET /v1/federation; nil serves the node's own view.
	Federation func() any
	// TrustList answers GET /.well-known/hcfed/trustlist; nil is 404.
	TrustList func() []byte
	// ShutdownTimeout bounds the graceful drain of requests when Serve's
	// context ends; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// LinkBase is the base of the wallet and scanner links the API hands
	// out (https://hc.example.gov.cn): the daemon gives public_url, or the
	// loopback address the node listens on. Empty takes public_url from
	// the node's settings, and without it the links are paths
	// (/wallet#token=…). Never the Host header of a request: its sender
	// chooses it, and would have the node hand out links to their site.
	LinkBase string
	// MetricsToken is the bearer token GET /metrics asks for on this
	// listener (metrics_token_file's, read by the daemon, which replaces
	// it on SIGHUP: Server.SetMetricsToken); empty, and without
	// metrics_listen, /metrics is served nowhere (metricsRoute).
	MetricsToken string
}

// DefaultShutdownTimeout is how long Serve waits for running requests
// when it stops, unless Config says otherwise.
const DefaultShutdownTimeout = 10 * time.Second

// Server is a node's HTTP API.
type Server struct {
	n       *node.Node
	metrics *node.Metrics
	// recordRefusal audits a forbidden answer (node.Node.RecordRefusal);
	// nil on a verifier replica, which has no node and no audit log.
	recordRefusal func(ctx context.Context, p node.Principal, route string) error
	log           *slog.Logger
	cfg           Config
	echo          *echo.Echo
	ready         readiness // what /readyz last answered, to log its changes only
	// maxConns is limits.max_connections, the cap of the listener Serve
	// is given (see conns).
	maxConns int
	// mtoken is the token GET /metrics asks for (SetMetricsToken); nil
	// when it asks for none.
	mtoken *metricsToken
}

// New builds the routes.
func New(cfg Config) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{n: cfg.Node, metrics: cfg.Node.Metrics(), recordRefusal: cfg.Node.RecordRefusal, log: cfg.Logger, cfg: cfg, echo: e,
		maxConns: cfg.Node.Settings().Limits.MaxConnections}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = ipExtractor(cfg.Node.Settings().TrustedProxies)
	limit := cfg.Node.Settings().Limits.BodyBytes
	e.Use(requestIDs(cfg.Node.Settings().TrustedProxies))
	e.Use(s.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: false, LogErrorFunc: s.logPanic}))
	e.Use(securityHeaders, noStore)
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: strconv.FormatInt(limit, 10),
		Skipper: func(c echo.Context) bool { return c.Path() == bulkStatusPath || c.Path() == replica.RecordsPath }})) // limits.bulk_bytes, maxRecordsBody instead

	e.GET("/healthz", s.healthz)
	e.GET(readyzRoute, s.readyz)
	s.mtoken = metricsRoute(e, cfg.Node.Metrics(), cfg.Node.Settings(), cfg.MetricsToken)
	e.GET("/.well-known/jwks.json", s.jwks)
	e.GET("/.well-known/hcfed/keyset", s.keyset)
	e.GET("/.well-known/hcfed/trustlist", s.trustList)
	e.GET("/v1/privacy", s.privacy)
	e.GET("/v1/federation", s.federation)

	v1 := e.Group("/v1", s.auth)
	v1.POST("/subjects", s.enrol, s.permit(node.OpEnrol))
	v1.PUT("/subjects/:id/status", s.setStatus, s.permit(node.OpSetStatus))
	v1.POST("/statuses", s.setStatuses)
	v1.POST("/subjects/:id/codes", s.issue, s.permit(node.OpIssueCode))
	v1.DELETE("/subjects/:id", s.deleteSubject)
	v1.POST("/subjects/:id/token", s.replaceResidentToken, s.permit(node.OpReplaceResidentToken))
	v1.GET("/codes/:jti/qr.png", s.qr)
	v1.POST("/verify", s.verify, s.permit(node.OpVerify))
	v1.POST("/scanners", s.addScanner, s.permit(node.OpAddScanner))
	v1.GET("/scanners", s.listScanners)
	v1.DELETE("/scanners/:id", s.removeScanner)
	v1.GET("/keys", s.listKeys)
	v1.POST("/keys/rotate", s.rotateKeys)
	v1.POST("/keys/:kid/compromise", s.compromiseKey)
	v1.POST("/keys/root/rotate", s.rotateRoot)
	v1.POST("/keys/content/rekey", s.rekeyContent)
	s.privacyRoutes(v1)
	s.lookupRoutes(v1)
	s.pageRoutes(v1)
	s.accountRoutes(v1)
	s.replicaRoutes(v1, e.Group("/v1/replica", middleware.BodyLimit(strconv.Itoa(maxRecordsBody)), s.replicaAuth))
	s.serverErrorsStartAtZero()
	return s
}

// serverErrorsStartAtZero creates, at 0, the series of
// hcfed_http_requests_total that an alert on server errors reads: every
// route with every 5xx status the node answers with (serverErrorStatuses).
// increase() sees no rise in a series that appears with its first
// error, so without these an alert on a route's 5xx would miss the first
// burst. Other statuses (2xx, 4xx: the client's doing) appear on first
// use, which keeps the zeros to routes × a few codes.
func (s *Server) serverErrorsStartAtZero() {
	for _, r := range s.echo.Routes() {
		for _, status := range serverErrorStatuses() {
			s.metrics.HTTPRequests.WithLabelValues(r.Path, strconv.Itoa(status))
		}
	}
}

// Handler is the API as an http.Handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return serve(ctx, l, s.echo, s.cfg.ShutdownTimeout, &conns{max: s.maxConns, open: s.metrics.HTTPConnections})
}

// serve serves h on l until ctx ends, then shuts down gracefully, waiting
// for running requests at most timeout (DefaultShutdownTimeout if 0).
// cs, unless nil, counts the connections open and has idle ones give
// way at the listener's cap (see conns).
func serve(ctx context.Context, l net.Listener, h http.Handler, timeout time.Duration, cs *conns) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
	if cs != nil {
		srv.ConnState = cs.state
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		if timeout <= 0 {
			timeout = DefaultShutdownTimeout
		}
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// Requests still running finish on their own; the node they
			// call refuses or records what arrives after it closed.
			return fmt.Errorf("http shutdown: requests still running after %s: %w", timeout, err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

func (s *Server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.Error("panic in handler", "err", err, "route", c.Path(), "request_id", requestID(c))
	return err
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// observe records metrics and one log line per request: route pattern,
// status, duration and request id — never bodies, tokens or path ids.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	m := s.metrics
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		m.HTTPRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.HTTPSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
		// A failing request is logged, except /readyz's 503s: readiness
		// logs its changes instead, so a poller cannot flood the log.
		level := slog.LevelDebug
		if status >= 500 && route != readyzRoute {
			level = slog.LevelInfo
		}
		if s.log.Enabled(c.Request().Context(), level) {
			s.log.Log(c.Request().Context(), level, "http", "method", c.Request().Method, "route", route, "status", status,
				"ms", float64(time.Since(start).Microseconds())/1000, "request_id", requestID(c))
		}
		return nil
	}
}

// answerCSP is the Content-Security-Policy of every answer that is no
// page or asset (JSON, images, errors, a 404 for any path): a browser
// that opens one runs, loads and frames nothing of it. The pages and
// their assets set their own (pageHeaders).
const answerCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders gives every answer the headers a browser needs to
// keep it inert: never sniffed into another type, never framed, never
// named in a Referer. It runs for every request, before routing and the
// body limit, so that a 404 for any path, a 413 and a panic's 500 carry
// them too; pageHeaders then replaces the policy for pages and assets.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", answerCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// noStore forbids caching of anything under /v1: scanners and browsers
// must not keep what they were shown (seed rule 7). It runs for every
// request, before the body limit and routing, so that the public /v1
// routes and the errors raised before a handler (413, 404) carry it too.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := c.Request().URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
			h := c.Response().Header()
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
		}
		return next(c)
	}
}

// auth resolves the bearer token into a principal for the handlers.
func (s *Server) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return node.Errorf(node.EUnauthorized, "missing or malformed bearer token")
		}
		p, err := s.n.Authenticate(c.Request().Context(), strings.TrimSpace(tok))
		if err != nil {
			return err
		}
		if err := s.n.Admit(p); err != nil {
			return err
		}
		c.Set("principal", p)
		return next(c)
	}
}

// permit refuses, before the handler reads the body, a caller who may
// not call op (Node.Permit, which audits an operator refused an admin's
// operation) — the :id of the path is the record it reaches — so that a
// wrong role gets 403 whatever the body holds. Every route whose handler
// reads a body carries it.
func (s *Server) permit(op node.Operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := s.n.Permit(c.Request().Context(), principal(c), op, c.Param("id")); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func principal(c echo.Context) node.Principal {
	p, _ := c.Get("principal").(node.Principal)
	return p
}

// bind decodes a JSON body strictly: unknown fields, keys that match a
// field only case-insensitively, duplicate keys, trailing data and wrong
// types are EInvalid, and nothing is changed.
func bind(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decode(body, v)
}

// decode is bind's check and decoding of a body already read; v must be a
// pointer. The rule is trust's (DecodeJSON), the one it applies to signed
// statements: besides unknown fields and trailing data, an object key
// that matches a field only case-insensitively ("Name" for "name") and a
// key given twice in one object (where encoding/json keeps the last) are
// refused; the words after "invalid JSON: " for a key are trust's too.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return node.Errorf(node.EInvalid, "request body is empty; send JSON")
	}
	// Decoded into a fresh value and copied only once all is well, so
	// that a refused body (a wrong type, trailing data) changes nothing.
	fresh := reflect.New(reflect.TypeOf(v).Elem())
	var ke *trust.KeyError
	switch err := trust.DecodeJSON(body, fresh.Interface()); {
	case errors.As(err, &ke):
		return node.Errorf(node.EInvalid, "invalid JSON: %s", ke.Error())
	case errors.Is(err, trust.ErrTrailingData):
		return node.Errorf(node.EInvalid, "invalid JSON: trailing data")
	case err != nil:
		return node.Errorf(node.EInvalid, "invalid JSON: %s", jsonProblem(err))
	}
	reflect.ValueOf(v).Elem().Set(fresh.Elem())
	return nil
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\r\n"

// readBody reads the request body, within the body limit.
func readBody(c echo.Context) ([]byte, error) {
	body, err := readAll(c.Request())
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, node.Errorf(node.ETooLarge, "request body too large or unreadable")
	}
	return body, nil
}

// maxPresize bounds the buffer readAll allocates on the client's word
// (Content-Length) before reading. The body limit middleware has refused
// longer bodies already; this only keeps readBody safe on its own.
const maxPresize = 64 << 10

// readAll reads a request body into one buffer of its declared length,
// rather than growing one as io.ReadAll does.
func readAll(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= maxPresize {
		b := make([]byte, n)
		_, err := io.ReadFull(r.Body, b)
		return b, err
	}
	return io.ReadAll(r.Body)
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		kind, _, _ := strings.Cut(te.Value, " ")        // "number 12" names the input: keep "number"
		return "a JSON object is expected, not " + kind // the whole body or line
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed"
}
