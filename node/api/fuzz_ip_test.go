package api

import (
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: with trusted_proxies set, X-Forwarded-For is believed only
// from a trusted proxy: a request from any other address is that address,
// whatever the header says, and one from a proxy is the proxy or an
// address the header names (in any spelling, brackets or not) — never
// anything else.
func FuzzClientIP(f *testing.F) {
	extract := ipExtractor([]string{"10.0.0.0/8", "not a cidr"})
	for _, s := range []string{"", "203.0.113.9", "203.0.113.9, 10.1.1.1", "10.2.2.2,10.3.3.3", "::1", " x ,,", "1.2.3.4\x00"} {
		f.Add(uint32(0x0a000001), s)
		f.Add(uint32(0xc6336401), s)
	}
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, remote uint32, xff string) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], remote)
		addr := netip.AddrFrom4(b)
		req := &http.Request{RemoteAddr: netip.AddrPortFrom(addr, 1234).String(), Header: http.Header{}}
		req.Header.Set("X-Forwarded-For", xff)
		got := extract(req)
		if got == addr.String() {
			return
		}
		if !trusted.Contains(addr) {
			t.Fatalf("request from %s with X-Forwarded-For %q is %q", addr, xff, got)
		}
		// The header may spell an address otherwise ("0::" is "::"), and
		// IPv6 in brackets, which echo strips from each end on its own.
		gotIP := net.ParseIP(got)
		named := false
		for _, p := range strings.Split(xff, ",") {
			p = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(p), "["), "]")
			named = named || p == got || (gotIP != nil && gotIP.Equal(net.ParseIP(p)))
		}
		if !named {
			t.Fatalf("request from proxy %s with X-Forwarded-For %q is %q, which it does not name", addr, xff, got)
		}
	})
}
