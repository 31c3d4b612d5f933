package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

// privacyRoutes are the residents' rights (docs/privacy.md): to see what is
// held about them and where their codes were verified, to appeal, and to a
// paper code when they have no phone. g is the authenticated, no-store
// /v1 group.
func (s *Server) privacyRoutes(g *echo.Group) {
	g.GET("/subjects/:id", s.subjectRecord)
	g.GET("/subjects/:id/verifications", s.verifications)
	g.GET("/subjects/:id/appeals", s.appealsOf)
	g.POST("/appeals", s.fileAppeal, s.permit(node.OpFileAppeal))
	g.GET("/appeals", s.openAppeals)
	g.PUT("/appeals/:id", s.resolveAppeal, s.permit(node.OpResolveAppeal))
	g.GET("/codes/:jti/paper.png", s.paperCode)
	g.DELETE("/subjects/:id/paper-codes", s.revokePaperCodes)
}

func (s *Server) subjectRecord(c echo.Context) error {
	r, err := s.n.SubjectRecord(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) verifications(c echo.Context) error {
	list, err := s.n.Verifications(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"verifications": list,
		"note": "verifications by this province's scanners and those other provinces reported; a report sent while this node was unreachable is missing"})
}

func (s *Server) appealsOf(c echo.Context) error {
	list, err := s.n.AppealsOf(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"appeals": list})
}

func (s *Server) fileAppeal(c echo.Context) error {
	var in struct {
		SubjectID string `json:"subject_id"`
		Message   string `json:"message"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.n.FileAppeal(c.Request().Context(), principal(c), in.SubjectID, in.Message)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, a)
}

// openAppeals pages the queue: ?after=<the previous page's next>&limit=N.
func (s *Server) openAppeals(c echo.Context) error {
	limit := 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return node.Errorf(node.EInvalid, "limit must be a positive number")
		}
		limit = n
	}
	page, err := s.n.OpenAppeals(c.Request().Context(), principal(c), c.QueryParam("after"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

func (s *Server) resolveAppeal(c echo.Context) error {
	var in node.Resolution
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.n.ResolveAppeal(c.Request().Context(), principal(c), c.Param("id"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

func (s *Server) paperCode(c echo.Context) error {
	page, err := s.n.PaperCode(c.Request().Context(), principal(c), c.Param("jti"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", page)
}

// revokePaperCodes withdraws a resident's live paper codes (a printed
// code lost or stolen); their phone codes stay valid.
func (s *Server) revokePaperCodes(c echo.Context) error {
	n, err := s.n.RevokePaperCodes(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"revoked": n})
}
