package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// readyzRoute is the unauthenticated readiness probe. Its 503s are not
// logged one by one (a poller at any rate would flood the log); the
// changes of readiness are (see readiness).
const readyzRoute = "/readyz"

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// readiness remembers what /readyz last answered, so that a change of
// readiness, or of its reason, is logged once however often it is asked.
type readiness struct {
	mu     sync.Mutex
	known  bool
	reason string // "" while ready
}

// changed records the answer reason ("" for ready) and reports whether it
// differs from the last one recorded.
func (r *readiness) changed(reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known && r.reason == reason {
		return false
	}
	wasKnown := r.known
	r.known, r.reason = true, reason
	return wasKnown || reason != "" // the first answer is news only if it is "not ready"
}

// answerReady runs the readiness checks in order (nil ones are skipped)
// and answers /readyz: 200, or 503 with the first failure's reason.
func (s *Server) answerReady(c echo.Context, checks ...Ready) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	reason := ""
	for _, ready := range checks {
		if ready == nil {
			continue
		}
		if err := ready(ctx); err != nil {
			reason = err.Error()
			break
		}
	}
	if s.ready.changed(reason) {
		if reason != "" {
			s.log.Warn("readyz: not ready", "reason", reason)
		} else {
			s.log.Info("readyz: ready")
		}
	}
	if reason != "" {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
