package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/replica"
)

// maxRecordsBody bounds a POST /v1/replica/records body: at most
// node.MaxReplicaRecords records of well under 1 KiB each.
const maxRecordsBody = node.MaxReplicaRecords << 10

// replicaRoutes adds, at a home node, the operators' management of
// verifier replicas (under v1) and the routes replicas call with their
// own token (rp: /v1/replica/...).
func (s *Server) replicaRoutes(v1, rp *echo.Group) {
	v1.POST("/replicas", s.addReplica, s.permit(node.OpAddReplica))
	v1.GET("/replicas", s.listReplicas)
	v1.DELETE("/replicas/:id", s.removeReplica)
	v1.POST("/replicas/:id/confirm", s.confirmReplica, s.permit(node.OpConfirmReplica))
	rp.POST(strings.TrimPrefix(replica.RegisterPath, "/v1/replica"), s.registerReplica)
	rp.GET(strings.TrimPrefix(replica.StatusPath, "/v1/replica"), s.replicaStatus)
	rp.GET(strings.TrimPrefix(replica.SyncPath, "/v1/replica"), s.replicaSync)
	rp.POST(strings.TrimPrefix(replica.RecordsPath, "/v1/replica"), s.replicaRecords)
}

// replicaAuth resolves a replica token (never a scanner's, operator's or
// resident's) for the replica routes.
func (s *Server) replicaAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok {
			return node.Errorf(node.EUnauthorized, "missing or malformed bearer token")
		}
		rp, err := s.n.Replicas().Authenticate(c.Request().Context(), strings.TrimSpace(tok))
		if err != nil {
			return err
		}
		c.Set("replica", rp)
		return next(c)
	}
}

func replicaPrincipal(c echo.Context) node.ReplicaPrincipal {
	rp, _ := c.Get("replica").(node.ReplicaPrincipal)
	return rp
}

func (s *Server) addReplica(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.n.Replicas().Add(c.Request().Context(), principal(c), in.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) listReplicas(c echo.Context) error {
	out, err := s.n.Replicas().List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"replicas": out})
}

func (s *Server) removeReplica(c echo.Context) error {
	if err := s.n.Replicas().Remove(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) confirmReplica(c echo.Context) error {
	var in struct {
		Fingerprint string `json:"fingerprint"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.n.Replicas().Confirm(c.Request().Context(), principal(c), c.Param("id"), in.Fingerprint)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) registerReplica(c echo.Context) error {
	var in replica.RegisterRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.n.Replicas().Register(c.Request().Context(), replicaPrincipal(c), in.EncKey, in.SigKey)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) replicaStatus(c echo.Context) error {
	out, err := s.n.Replicas().Status(c.Request().Context(), replicaPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) replicaSync(c echo.Context) error {
	out, unchanged, err := s.n.Replicas().Sync(c.Request().Context(), replicaPrincipal(c),
		c.Request().Header.Get("If-None-Match"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", out.Tag)
	if unchanged {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) replicaRecords(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return node.Errorf(node.EInvalid, "request body is empty; send JSON")
	}
	n, err := s.n.Replicas().AcceptRecords(c.Request().Context(), replicaPrincipal(c), body,
		c.Request().Header.Get(node.ReplicaSignatureHeader))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, replica.RecordsAnswer{Accepted: n})
}
