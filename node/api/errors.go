package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

// statusOf is the one table from error code to HTTP status. A code that is
// not here is a 500 whose message reveals nothing.
var statusOf = map[node.ErrorCode]int{
	node.EInvalid:              http.StatusBadRequest,
	node.EUnauthorized:         http.StatusUnauthorized,
	node.EForbidden:            http.StatusForbidden,
	node.ENotFound:             http.StatusNotFound,
	node.EConflict:             http.StatusConflict,
	node.EConsentRequired:      http.StatusUnprocessableEntity,
	node.ENotCollected:         http.StatusUnprocessableEntity,
	node.ETooLarge:             http.StatusRequestEntityTooLarge,
	node.ERateLimited:          http.StatusTooManyRequests,
	node.EReadLimited:          http.StatusTooManyRequests,
	node.EAppealStale:          http.StatusConflict,
	node.ELimitReached:         http.StatusConflict,
	node.EStatusHeld:           http.StatusConflict,
	node.EStatusUnconfirmed:    http.StatusConflict,
	node.EUnavailable:          http.StatusServiceUnavailable,
	node.ERoleVerifier:         http.StatusForbidden,
	node.EAdminRequired:        http.StatusForbidden,
	node.EReplicaStale:         http.StatusServiceUnavailable,
	node.EReplicaUnconfirmed:   http.StatusForbidden,
	node.EReplicaKeysLimit:     http.StatusConflict,
	node.EReplicaSignature:     http.StatusForbidden,
	node.ELookupNotScanned:     http.StatusUnprocessableEntity,
	node.ELookupUnproven:       http.StatusForbidden,
	node.EMetricsTokenRequired: http.StatusUnauthorized,
	node.EMetricsNotPublic:     http.StatusNotFound,
	"method_not_allowed":       http.StatusMethodNotAllowed,
}

// serverErrorStatuses are the 5xx statuses the node answers with: 500
// for an error statusOf does not know, and each 5xx in statusOf; sorted.
func serverErrorStatuses() []int {
	out := []int{http.StatusInternalServerError}
	for _, st := range statusOf {
		if st >= 500 && !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	slices.Sort(out)
	return out
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorHandler writes every error as JSON. echo's own errors (unknown
// route, wrong method, body too large) are mapped to node codes first.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		err = fromEcho(he)
	}
	code := node.ErrorCodeOf(err)
	if code == node.EForbidden && s.recordRefusal != nil {
		if rerr := s.recordRefusal(c.Request().Context(), principal(c), c.Request().Method+" "+c.Path()); rerr != nil {
			err, code = rerr, node.ErrorCodeOf(rerr)
		}
	}
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, node.EInternal
		s.log.Error("internal error", "err", err, "route", c.Path(), "request_id", requestID(c))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = string(code), node.ErrorMessageOf(err)
	if err := c.JSON(status, body); err != nil {
		s.log.Warn("writing error response", "err", err)
	}
}

func fromEcho(he *echo.HTTPError) error {
	switch he.Code {
	case http.StatusRequestEntityTooLarge:
		return node.Errorf(node.ETooLarge, "request body too large")
	case http.StatusNotFound:
		return node.Errorf(node.ENotFound, "no such route")
	case http.StatusMethodNotAllowed:
		return &node.Error{Code: "method_not_allowed", Message: "method not allowed on this route"}
	case http.StatusUnauthorized:
		return node.Errorf(node.EUnauthorized, "missing or malformed bearer token")
	case http.StatusBadRequest:
		return node.Errorf(node.EInvalid, "bad request")
	}
	return errors.New(he.Error())
}
