// Listeners: the addresses a node binds (listen, nats.listen,
// metrics_listen, and metrics_token_file, which guards /metrics on
// listen instead) and the base of the links it hands out (public_url),
// checked together because each rule involves another.

package config

import (
	"net"
	"net/url"
	"strconv"
)

// validateListeners checks listen, nats.listen, metrics_listen (with
// metrics_token_file) and public_url.
func (c *Config) validateListeners(bad func(field, format string, a ...any)) {
	listenAddr(bad, "listen", c.Listen, false)
	if c.NATS.Embedded {
		listenAddr(bad, "nats.listen", c.NATS.Listen, true)
	}
	if c.MetricsListen != "" {
		listenAddr(bad, "metrics_listen", c.MetricsListen, false)
		clash := func(key, addr string) {
			if samePort(c.MetricsListen, addr) {
				bad("metrics_listen", "%q takes the port of %s (%q): metrics need a listener of their own; give metrics_listen "+
					"another port, such as %s, or remove it and set metrics_token_file to serve /metrics on listen to a bearer token",
					c.MetricsListen, key, addr, DefaultMetricsListen)
			}
		}
		clash("listen", c.Listen)
		if c.NATS.Embedded {
			clash("nats.listen", c.NATS.Listen)
		}
		if c.MetricsTokenFile != "" {
			bad("metrics_token_file", "%q is set with metrics_listen (%q), which serves /metrics without a token on a listener of its "+
				"own while listen answers it 404: the token would guard nothing; remove metrics_token_file, or remove metrics_listen "+
				"to serve /metrics on listen to the token's bearer only", c.MetricsTokenFile, c.MetricsListen)
		}
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") ||
		u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		bad("public_url", "%q must be an https:// (or http://) address such as https://hc.example.gov.cn, without query or fragment: wallet and scanner links are built on it", c.PublicURL)
	}
	// A verifier replica hands out no links.
	if c.PublicURL != "" || c.IsVerifier() {
		return
	}
	host, _, err := net.SplitHostPort(c.Listen)
	switch {
	case err == nil && !isLoopback(host):
		bad("public_url", "required when listen (%q) is not a loopback address: wallet and scanner links are built on public_url, "+
			"never on the Host header of a request, which its sender chooses; set it to the https:// address residents and "+
			"scanners use, such as https://hc.example.gov.cn", c.Listen)
	case len(c.TrustedProxies) > 0:
		// Behind a proxy (an upgraded node's links once followed the Host
		// header the proxy passed on): the loopback address would reach
		// no resident's phone.
		bad("public_url", "required when trusted_proxies is set: a node reached through a proxy would hand out wallet and "+
			"scanner links to its own loopback address (%q), which residents' phones cannot reach; set it to the https:// "+
			"address residents and scanners use, such as https://hc.example.gov.cn", c.Listen)
	}
}

// listenAddr reports field unless addr is host:port with a port number
// in [0, 65535] (0: any free port; for NATS, nats-server's own -1 too),
// the form a listener takes: a port out of range or a service name was
// accepted here and refused only when the node tried to listen.
func listenAddr(bad func(field, format string, a ...any), field, addr string, nats bool) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		bad(field, "%q must be a host and port such as 127.0.0.1:8080 (%v)", addr, err)
		return
	}
	if nats && port == "-1" {
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		bad(field, "%q: the port must be a number within [0, 65535]", addr)
	}
}

// samePort reports whether listeners on a and b would want the same
// port: the same number (other than 0, a free port chosen at start) on
// the same host, or on every address ("", 0.0.0.0, ::) on either side.
// Two names of one address (localhost, 127.0.0.1) are not caught here;
// the second bind at start is refused, naming its setting.
func samePort(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	return ha == hb || everyAddress(ha) || everyAddress(hb)
}

// everyAddress reports whether a listener on host listens on every
// address of the machine.
func everyAddress(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}
