package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

// readyzRoute is the unauthenticated readiness probe. Its 503s are not
// logged one by one (a poller at any rate would flood the log); the
// changes of readiness are (see readiness).
const readyzRoute = "/readyz"

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// readyRelogEvery is the least time between two log lines of one failing
// check whose cause changed meanwhile (a duration in it, a database's
// error): the cause is logged in full, but not at every probe.
const readyRelogEvery = time.Minute

// readyUnexplained is /readyz's reason for an error that is neither a
// node.NotReady nor a node.Error: its text is not shown to anyone.
const readyUnexplained = "not ready: the node's log says why"

// readyCheck is one of /readyz's checks, and the name it answers for an
// error that does not name its check (see publicReadiness).
type readyCheck struct {
	name  string
	ready Ready
}

// readiness remembers what /readyz last logged, so that a change of
// readiness, or of the failing check, is logged once however often it is
// asked, and a changing cause at most once each readyRelogEvery.
type readiness struct {
	mu     sync.Mutex
	now    func() time.Time // time.Now if nil
	known  bool
	check  string // "" while ready
	cause  string // the full error last logged
	logged time.Time
}

// toLog records the answer (check "" for ready, and the full error) and
// reports whether it is to be logged: the check changed, or its cause did
// and readyRelogEvery has passed since the last line.
func (r *readiness) toLog(check, cause string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.now != nil {
		now = r.now()
	}
	switch {
	case !r.known:
		if check == "" {
			r.known = true // the first answer is news only if it is "not ready"
			return false
		}
	case r.check != check:
	case cause == r.cause || now.Sub(r.logged) < readyRelogEvery:
		return false
	}
	r.known, r.check, r.cause, r.logged = true, check, cause, now
	return true
}

// publicReadiness is what /readyz tells anyone of err, from the check
// named name: the failing check's stable code and a sentence without
// paths, URLs or a database's own words. An error of no known kind is
// not described.
func publicReadiness(name string, err error) (check, reason string) {
	var nr *node.NotReady
	var ne *node.Error
	switch {
	case errors.As(err, &nr):
		return nr.Check, nr.Message
	case errors.As(err, &ne):
		return string(ne.Code), ne.Message
	}
	return name, readyUnexplained
}

// answerReady runs the readiness checks in order (nil ones are skipped)
// and answers /readyz: 200, or 503 with the first failing check and its
// public reason. The full error goes to the log.
func (s *Server) answerReady(c echo.Context, checks ...readyCheck) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	var failed error
	check, reason := "", ""
	for _, rc := range checks {
		if rc.ready == nil {
			continue
		}
		if failed = rc.ready(ctx); failed != nil {
			check, reason = publicReadiness(rc.name, failed)
			break
		}
	}
	cause := ""
	if failed != nil {
		cause = failed.Error()
	}
	if s.ready.toLog(check, cause) {
		if failed != nil {
			s.log.Warn("readyz: not ready", "check", check, "reason", reason, "err", cause)
		} else {
			s.log.Info("readyz: ready")
		}
	}
	if failed != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "check": check, "reason": reason})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
