package api

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/labstack/echo/v4"
)

// requestIDPattern is a request id's shape, written apart from
// requestIDShaped so that the two check each other.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ownRequestID is the shape of an id the node draws.
var ownRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FuzzRequestID: whatever a client sends in X-Request-ID, from whatever
// address, the id answered (and logged) has a request id's shape; it is
// the one sent exactly when the request came from a trusted proxy and the
// id has that shape, and otherwise one of the node's (32 hex digits).
func FuzzRequestID(f *testing.F) {
	trusted := []string{"10.0.0.0/8", "2001:db8::/32", "not a cidr"}
	for _, remote := range []string{"10.1.2.3:443", "192.0.2.1:80", "[2001:db8::1]:80", "[::ffff:10.0.0.1]:1", "[fe80::1%eth0]:1", "10.1.2.3", ""} {
		for _, rid := range []string{"", "3f2a-11ee:req.1_x", "rid 张三", "a\nb", string(make([]byte, 65))} {
			f.Add(remote, rid)
		}
	}
	var nets []*net.IPNet
	for _, p := range trusted {
		if _, n, err := net.ParseCIDR(p); err == nil {
			nets = append(nets, n)
		}
	}
	mw := requestIDs(trusted)
	e := echo.New()
	f.Fuzz(func(t *testing.T, remote, rid string) {
		req := &http.Request{Method: "GET", RemoteAddr: remote, Header: http.Header{}}
		req.Header.Set(echo.HeaderXRequestID, rid)
		rec := httptest.NewRecorder()
		var logged string
		h := mw(func(c echo.Context) error { logged = requestID(c); return nil })
		if err := h(e.NewContext(req, rec)); err != nil {
			t.Fatal(err)
		}
		got := rec.Header().Get(echo.HeaderXRequestID)
		if got != logged || !requestIDPattern.MatchString(got) {
			t.Fatalf("from %q with X-Request-ID %q: answered %q, logged %q", remote, rid, got, logged)
		}
		proxy := false
		if host, _, err := net.SplitHostPort(remote); err == nil {
			if ip := net.ParseIP(host); ip != nil {
				for _, n := range nets {
					proxy = proxy || n.Contains(ip)
				}
			}
		}
		keep := proxy && requestIDPattern.MatchString(rid)
		if keep != (got == rid) {
			t.Fatalf("from %q (trusted proxy %v) with X-Request-ID %q: answered %q", remote, proxy, rid, got)
		}
		if !keep && !ownRequestID.MatchString(got) {
			t.Fatalf("the node's own request id %q is not 32 hex digits", got)
		}
	})
}
