package api

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// maxRequestIDLen bounds a request id a trusted proxy may give: a UUID,
// or a proxy's own hex or base64url id, fits.
const maxRequestIDLen = 64

// requestIDs gives every request an id, answered in X-Request-ID and
// logged with it. A request that came through one of the trusted proxies
// (trusted_proxies, as for X-Forwarded-For) keeps the id the proxy sent,
// if it has the shape of one, so that the proxy's log and the node's can
// be joined; any other request gets an id of the node's. The header is
// never believed from anyone else: whatever a client put in it would go
// into every log line of its requests.
func requestIDs(trusted []string) echo.MiddlewareFunc {
	var proxies []netip.Prefix
	for _, p := range trusted {
		if pr, err := netip.ParsePrefix(p); err == nil {
			proxies = append(proxies, pr.Masked())
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			rid := c.Request().Header.Get(echo.HeaderXRequestID)
			if !requestIDShaped(rid) || !fromProxy(proxies, c.Request().RemoteAddr) {
				rid = newRequestID()
			}
			c.Response().Header().Set(echo.HeaderXRequestID, rid)
			return next(c)
		}
	}
}

// requestIDShaped reports whether s may be a request id: 1 to
// maxRequestIDLen letters, digits, '-', '_', '.' or ':'.
func requestIDShaped(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for _, b := range []byte(s) {
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

// fromProxy reports whether remote, a connection's address, is one of
// the proxies.
func fromProxy(proxies []netip.Prefix, remote string) bool {
	if len(proxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// newRequestID draws a request id: 128 random bits in hex.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
