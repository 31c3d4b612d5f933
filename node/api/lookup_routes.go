package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

// lookupRoutes are the cross-province identity lookup (seed rules 6 and
// 11): an operator asks a traveler's home province for their contact data
// with a legal basis and a case, and a resident sees every such lookup of
// their identity by another province; an auditor finds the lookups of a
// case, given its id in the body (never in the URL, where access logs
// keep it). g is the authenticated, no-store /v1 group: the contact data
// is never cached.
func (s *Server) lookupRoutes(g *echo.Group) {
	g.POST("/lookups", s.lookup, s.permit(node.OpLookup))
	g.GET("/subjects/:id/lookups", s.lookupsOf)
	g.POST("/audit/lookups", s.lookupAudit, s.permit(node.OpLookupAudit))
}

func (s *Server) lookupAudit(c echo.Context) error {
	var in node.LookupAuditQuery
	if err := bind(c, &in); err != nil {
		return err
	}
	entries, err := s.n.LookupAudit(c.Request().Context(), principal(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries,
		"note": "every audit entry of a lookup for this case, at this node, newest first"})
}

func (s *Server) lookup(c echo.Context) error {
	var in node.LookupInput
	if err := bind(c, &in); err != nil {
		return err
	}
	res, err := s.n.Lookup(c.Request().Context(), principal(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) lookupsOf(c echo.Context) error {
	list, err := s.n.LookupsOf(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"lookups": list,
		"note": "every time another province obtained this resident's contact data from this province"})
}
