package api

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/web"
)

// pageCSP is the Content-Security-Policy of every page and asset: scripts
// and styles from this node only, never inline; images and video also from
// blob: (the QR fetched with a token, the camera stream) and data: (the
// empty favicon); no frames, plugins, base rewriting or foreign forms.
// Trusted Types are required and none may be made: a string can never
// become markup or script (innerHTML and its kin throw), whatever a
// script of a later change writes; the pages write text only.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// maxLinkURL bounds the link an operator may have rendered as a QR.
const maxLinkURL = 512

// pages holds each page rendered in each language, and every asset with
// its ETag and its gzipped form, built once at start: a request for an
// asset costs a copy of stored bytes, never a compression.
type pages struct {
	html   map[string]map[string][]byte // route → lang → page
	camera map[string]bool
	assets map[string]asset
}

type asset struct {
	body  []byte
	gz    []byte // body gzipped, or nil where that is no smaller
	etag  string
	ctype string
}

// gzipAsset compresses an asset once, at start; nil if that saves nothing.
func gzipAsset(body []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if b.Len() >= len(body) {
		return nil, nil
	}
	return b.Bytes(), nil
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: it
// names gzip (or *) without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		f, err := strconv.ParseFloat(q, 64)
		return err == nil && f > 0
	}
	return false
}

// embeddedPages is loadPages run once a process: the pages and assets
// are embedded, so every Server of the process (the three nodes of
// 'hcnode demo', the many of the tests) serves the same bytes, and
// gzipping them at best compression was most of what starting a Server
// cost. Nothing changes a pages once loaded.
var embeddedPages = sync.OnceValues(loadPages)

func loadPages() (*pages, error) {
	p := &pages{html: map[string]map[string][]byte{}, camera: map[string]bool{}, assets: map[string]asset{}}
	files := web.Assets()
	for _, pg := range web.Pages() {
		raw, err := fs.ReadFile(files, pg.File)
		if err != nil {
			return nil, err
		}
		p.html[pg.Route] = map[string][]byte{}
		for _, lang := range []string{web.LangZH, web.LangEN} {
			p.html[pg.Route][lang] = bytes.ReplaceAll(raw, []byte(web.LangPlaceholder), []byte(lang))
		}
		p.camera[pg.Route] = pg.Camera
	}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(name, ".html") || strings.HasSuffix(name, ".md") {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		if strings.HasPrefix(ctype, "text/") && !strings.Contains(ctype, "charset") {
			ctype += "; charset=utf-8"
		}
		gz, err := gzipAsset(body)
		if err != nil {
			return err
		}
		p.assets[name] = asset{body: body, gz: gz, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	return p, err
}

// pageRoutes serves the pages, their assets, and the two small API calls
// the pages need beyond the existing ones: who a token belongs to, and a
// QR image of a link of this node. v1 is the authenticated /v1 group.
func (s *Server) pageRoutes(v1 *echo.Group) {
	p, err := embeddedPages()
	if err != nil {
		panic("embedded pages: " + err.Error()) // a build defect, caught by every test
	}
	for route := range p.html {
		s.echo.GET(route, p.page(route))
	}
	assets := s.echo.Group("/assets", pageHeaders(false))
	assets.GET("/*", p.asset)
	v1.GET("/whoami", s.whoami)
	v1.POST("/qr", s.linkQR, s.permit(node.OpLinkQR))
}

// pageHeaders sets the security headers of pages and assets, beside
// those every answer has (securityHeaders): their own policy in place of
// the one that loads nothing, and no use of the camera except by the
// scanner page.
func pageHeaders(camera bool) echo.MiddlewareFunc {
	perms := "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
	if camera {
		perms = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			h.Set("Permissions-Policy", perms)
			return next(c)
		}
	}
}

// page serves a page in the language asked for. Pages hold no data (the
// script fetches it), so they may be cached but are revalidated.
func (p *pages) page(route string) echo.HandlerFunc {
	h := pageHeaders(p.camera[route])
	return h(func(c echo.Context) error {
		lang := web.Negotiate(c.QueryParam("lang"), c.Request().Header.Get("Accept-Language"))
		hd := c.Response().Header()
		hd.Set("Cache-Control", "no-cache")
		hd.Set("Vary", "Accept-Language")
		hd.Set("Content-Language", lang)
		return c.Blob(http.StatusOK, "text/html; charset=utf-8", p.html[route][lang])
	})
}

// asset serves an embedded file, revalidated by its content hash, gzipped
// (as stored at start) for a client that accepts it.
func (p *pages) asset(c echo.Context) error {
	a, ok := p.assets[c.Param("*")]
	if !ok {
		return node.Errorf(node.ENotFound, "no such file")
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	body := a.body
	if a.gz != nil {
		h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
		if acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
			h.Set(echo.HeaderContentEncoding, "gzip")
			body = a.gz
		}
	}
	if c.Request().Header.Get("If-None-Match") == a.etag {
		return c.NoContent(http.StatusNotModified)
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(http.StatusOK, a.ctype, body)
}

// whoami tells a page whose token it holds, so that a wrong or expired
// link is explained at once rather than at the first action.
func (s *Server) whoami(c echo.Context) error {
	p := principal(c)
	cfg := s.n.Settings()
	out := map[string]string{"role": string(p.Role), "province": cfg.Province, "province_name": cfg.Name}
	if p.SubjectID != "" {
		out["subject_id"] = p.SubjectID
	}
	if p.ScannerID != "" {
		// A scanner's page asks before another scanner's link replaces
		// the registration the device holds (common.js, keepOrReplace).
		out["scanner_id"] = p.ScannerID
	}
	if p.Account != "" {
		out["account"], out["account_role"] = p.Account, node.AccountOperator
		switch {
		case p.Admin:
			out["account_role"] = node.AccountAdmin
		case p.Role == node.RoleFeed:
			out["account_role"] = node.AccountFeed
		}
	}
	return c.JSON(http.StatusOK, out)
}

// linkQR renders a wallet or scanner-registration link of this node as a
// QR image, for the operator console to show at enrolment and at scanner
// registration. Server-side, with the encoder the node has for codes, so
// the console bundles no encoder; only links to this node's pages are
// rendered, so it is no general QR service. Operators only
// (node.OpLinkQR, checked before the body is read).
func (s *Server) linkQR(c echo.Context) error {
	var in struct {
		URL string `json:"url"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	base := s.publicURL()
	if len(in.URL) > maxLinkURL || !(strings.HasPrefix(in.URL, base+"/wallet#") || strings.HasPrefix(in.URL, base+"/scan#")) {
		return node.Errorf(node.EInvalid, "url must be a wallet or scanner link of this node (%s/wallet#… or %s/scan#…)", base, base)
	}
	png, err := node.QRPNG(in.URL)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", png)
}

// publicURL is how people reach this node, the base of the links it
// hands out: Config.LinkBase, or public_url. Never the scheme and Host
// of the request, which its sender chooses (a forged Host made the node
// hand out wallet and scanner links to another site).
func (s *Server) publicURL() string {
	return strings.TrimRight(cmp.Or(s.cfg.LinkBase, s.n.Settings().PublicURL), "/")
}

// walletURL is the link that opens a resident's wallet; the token is in
// the fragment, which browsers never send to a server or proxy.
func (s *Server) walletURL(token string) string {
	return s.publicURL() + "/wallet#token=" + token
}

// scannerURL is the link that registers a scanner device.
func (s *Server) scannerURL(token string) string {
	return s.publicURL() + "/scan#token=" + token
}
