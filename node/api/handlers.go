package api

import (
	"bytes"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
)

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	return s.answerReady(c, readyCheck{"node", s.n.Ready}, readyCheck{node.ReadyFederation, s.cfg.Ready})
}

func (s *Server) jwks(c echo.Context) error {
	ks := s.n.State().Keyset(s.n.Province())
	if ks == nil {
		return node.Errorf(node.EUnavailable, "no keyset yet")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, ks.JWKS())
}

func (s *Server) keyset(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.Blob(http.StatusOK, "application/jose", []byte(s.n.Keyset()))
}

func (s *Server) trustList(c echo.Context) error {
	if s.cfg.TrustList == nil {
		return node.Errorf(node.ENotFound, "this node holds no federation trust list")
	}
	doc := s.cfg.TrustList()
	if doc == nil {
		return node.Errorf(node.ENotFound, "this node holds no federation trust list")
	}
	return c.Blob(http.StatusOK, "application/jose+json", doc)
}

func (s *Server) privacy(c echo.Context) error {
	n, err := s.n.PrivacyNotice(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *Server) federation(c echo.Context) error {
	if s.cfg.Federation != nil {
		return c.JSON(http.StatusOK, s.cfg.Federation())
	}
	return c.JSON(http.StatusOK, s.n.FederationView())
}

func (s *Server) enrol(c echo.Context) error {
	var in node.Enrolment
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.n.Enrol(c.Request().Context(), principal(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		node.Enrolled
		WalletURL string `json:"wallet_url"`
	}{out, s.walletURL(out.ResidentToken)})
}

func (s *Server) setStatus(c echo.Context) error {
	var in struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.n.SetStatus(c.Request().Context(), principal(c), c.Param("id"), in.Status, in.Reason); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"id": c.Param("id"), "status": in.Status})
}

func (s *Server) issue(c echo.Context) error {
	var in struct {
		Paper bool `json:"paper"`
	}
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	out, err := s.n.IssueCode(c.Request().Context(), principal(c), c.Param("id"), in.Paper)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, issuedJSON{Code: out.Code, Exp: out.Expires.Unix(), JTI: out.JTI, QRURL: out.QRURL})
}

// issuedJSON is the body of a code issuance, its fields in the order a
// map of them was encoded in before: a struct encodes without sorting
// keys or boxing values.
type issuedJSON struct {
	Code  string `json:"code"`
	Exp   int64  `json:"exp"`
	JTI   string `json:"jti"`
	QRURL string `json:"qr_url"`
}

func (s *Server) deleteSubject(c echo.Context) error {
	if err := s.n.DeleteSubject(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// replaceResidentToken gives a resident a new wallet link and revokes
// the old one (a lost phone); the body names the resident's ID number.
func (s *Server) replaceResidentToken(c echo.Context) error {
	var in struct {
		IDNumber string `json:"id_number"`
	}
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	out, err := s.n.ReplaceResidentToken(c.Request().Context(), principal(c), c.Param("id"), in.IDNumber)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		node.ResidentToken
		WalletURL string `json:"wallet_url"`
	}{out, s.walletURL(out.ResidentToken)})
}

func (s *Server) qr(c echo.Context) error {
	png, err := s.n.CodeQR(c.Request().Context(), principal(c), c.Param("jti"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", png)
}

func (s *Server) verify(c echo.Context) error {
	code, err := verifyBody(c)
	if err != nil {
		return err
	}
	v, err := s.n.Verify(c.Request().Context(), principal(c), code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// verifyBody reads the code of a POST /v1/verify body.
func verifyBody(c echo.Context) (string, error) {
	body, err := readBody(c)
	if err != nil {
		return "", err
	}
	if code, ok := plainCode(body); ok {
		return code, nil
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(body, &in); err != nil {
		return "", err
	}
	return in.Code, nil
}

// plainCode reads a verify body of the form scanners send — {"code":"…"}
// as encoding/json writes it, the string printable ASCII without escapes —
// in one pass, where decode makes two. For such a body decode would give
// the same code (FuzzPlainCode checks this); any other body, false, is
// left to decode.
func plainCode(body []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(bytes.Trim(body, jsonSpace), []byte(`{"code":"`))
	if !ok {
		return "", false
	}
	if rest, ok = bytes.CutSuffix(rest, []byte(`"}`)); !ok {
		return "", false
	}
	for _, b := range rest {
		if b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return "", false
		}
	}
	return string(rest), true
}

func (s *Server) addScanner(c echo.Context) error {
	var in struct {
		Name  string `json:"name"`
		Place string `json:"place"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.n.AddScanner(c.Request().Context(), principal(c), in.Name, in.Place)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		node.NewScanner
		ScannerURL string `json:"scanner_url"`
	}{out, s.scannerURL(out.Token)})
}

func (s *Server) listScanners(c echo.Context) error {
	list, err := s.n.Scanners(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	type item struct {
		ID      string    `json:"id"`
		Name    string    `json:"name"`
		Place   string    `json:"place"`
		Scope   string    `json:"scope"`
		Created time.Time `json:"created"`
	}
	out := make([]item, 0, len(list))
	for _, sc := range list {
		if !sc.Disabled {
			out = append(out, item{sc.ID, sc.Name, sc.Place, sc.Scope, sc.Created})
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"scanners": out})
}

func (s *Server) removeScanner(c echo.Context) error {
	if err := s.n.RemoveScanner(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listKeys(c echo.Context) error {
	keys, err := s.n.Keys(principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) rotateKeys(c echo.Context) error {
	if err := s.n.RotateKeys(c.Request().Context(), principal(c)); err != nil {
		return err
	}
	return s.listKeys(c)
}

func (s *Server) compromiseKey(c echo.Context) error {
	if err := s.n.CompromiseKey(c.Request().Context(), principal(c), c.Param("kid")); err != nil {
		return err
	}
	return s.listKeys(c)
}

// rekeyContent starts new content keys; it answers the id of the one
// new codes use.
func (s *Server) rekeyContent(c echo.Context) error {
	id, err := s.n.RekeyContent(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"content_key": id})
}

func (s *Server) rotateRoot(c echo.Context) error {
	r, err := s.n.RotateRoot(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}
