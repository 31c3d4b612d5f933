package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// Verifier is what a verifier replica's API needs of the replica.
type Verifier interface {
	Authenticate(ctx context.Context, token string) (node.Principal, error)
	Verify(ctx context.Context, p node.Principal, code string) (node.Verification, error)
	Ready(ctx context.Context) error
	Metrics() *node.Metrics
	Settings() config.Config
}

// VerifierConfig wires a verifier replica's Server.
type VerifierConfig struct {
	Verifier Verifier
	Logger   *slog.Logger
	Ready    Ready // the federation's readiness, checked after the replica's own
	// Federation answers GET /v1/federation.
	Federation      func() any
	ShutdownTimeout time.Duration
	// MetricsToken is as Config's.
	MetricsToken string
}

// NewVerifier builds a verifier replica's routes: /healthz, /readyz,
// /metrics (as metricsRoute says), GET /v1/federation and
// POST /v1/verify. Every other route —
// enrolment, issuing, status, operators, residents, pages — answers 403
// role_verifier: it is served by the province's home node.
func NewVerifier(cfg VerifierConfig) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	v := cfg.Verifier
	s := &Server{metrics: v.Metrics(), log: cfg.Logger, cfg: Config{Ready: cfg.Ready, Federation: cfg.Federation,
		ShutdownTimeout: cfg.ShutdownTimeout}, echo: e, maxConns: v.Settings().Limits.MaxConnections}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = ipExtractor(v.Settings().TrustedProxies)
	e.Use(requestIDs(v.Settings().TrustedProxies))
	e.Use(s.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: false, LogErrorFunc: s.logPanic}))
	e.Use(securityHeaders, noStore)
	e.Use(middleware.BodyLimit(strconv.FormatInt(v.Settings().Limits.BodyBytes, 10)))

	e.GET("/healthz", s.healthz)
	e.GET(readyzRoute, func(c echo.Context) error {
		return s.answerReady(c, readyCheck{"replica", v.Ready}, readyCheck{node.ReadyFederation, cfg.Ready})
	})
	s.mtoken = metricsRoute(e, v.Metrics(), v.Settings(), cfg.MetricsToken)
	e.GET("/v1/federation", func(c echo.Context) error {
		if cfg.Federation == nil {
			return node.Errorf(node.EUnavailable, "not connected to the federation yet")
		}
		return c.JSON(http.StatusOK, cfg.Federation())
	})
	e.POST("/v1/verify", func(c echo.Context) error {
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok {
			return node.Errorf(node.EUnauthorized, "missing or malformed bearer token")
		}
		p, err := v.Authenticate(c.Request().Context(), strings.TrimSpace(tok))
		if err != nil {
			return err
		}
		code, err := verifyBody(c)
		if err != nil {
			return err
		}
		out, err := v.Verify(c.Request().Context(), p, code)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	})
	e.Any("/*", func(echo.Context) error {
		return node.Errorf(node.ERoleVerifier, "this is a verify-only replica: only POST /v1/verify is served here; use the province's home node")
	})
	s.serverErrorsStartAtZero()
	return s
}
