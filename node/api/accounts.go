package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

// accountRoutes are the operator accounts: named people with their own
// tokens, managed by admins. {id} is an account id or name. g is the
// authenticated, no-store /v1 group: new tokens are never cached.
func (s *Server) accountRoutes(g *echo.Group) {
	g.POST("/accounts", s.createAccount, s.permit(node.OpCreateAccount))
	g.GET("/accounts", s.listAccounts)
	g.POST("/accounts/:id/tokens", s.createAccountToken, s.permit(node.OpCreateAccountToken))
	g.DELETE("/accounts/:id/tokens/:token", s.revokeAccountToken)
	g.DELETE("/accounts/:id", s.disableAccount)
}

func (s *Server) createAccount(c echo.Context) error {
	var in struct {
		Name  string `json:"name"`
		Role  string `json:"role"`
		Label string `json:"label"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.n.CreateAccount(c.Request().Context(), principal(c), in.Name, in.Role, in.Label)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) listAccounts(c echo.Context) error {
	list, err := s.n.Accounts(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"accounts": list})
}

func (s *Server) createAccountToken(c echo.Context) error {
	var in struct {
		Label    string `json:"label"`
		Lifetime string `json:"lifetime"` // a Go duration such as "24h"; empty is tokens.operator_lifetime
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	var life time.Duration
	if in.Lifetime != "" {
		var err error
		if life, err = time.ParseDuration(in.Lifetime); err != nil || life <= 0 {
			return node.Errorf(node.EInvalid, "lifetime %q is not a positive duration such as 24h or 90m", in.Lifetime)
		}
	}
	out, err := s.n.CreateAccountToken(c.Request().Context(), principal(c), c.Param("id"), in.Label, life)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) revokeAccountToken(c echo.Context) error {
	if err := s.n.RevokeAccountToken(c.Request().Context(), principal(c), c.Param("id"), c.Param("token")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) disableAccount(c echo.Context) error {
	if err := s.n.DisableAccount(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
