package config

import (
	"strings"
	"testing"
)

// metrics_listen gets a listener of its own: a bad address, or one that
// takes the port of listen or of the embedded NATS server, is refused
// at start naming the setting and what to do, not when the second bind
// fails with the words of the socket layer. metrics_token_file, which
// guards /metrics on listen, is refused beside it: it would guard nothing.
func TestMetricsListenIsRefusedWhenBadOrSharingAPort(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string // "" accepted
	}{
		"loopback":         {func(c *Config) { c.MetricsListen = DefaultMetricsListen }, ""},
		"both free ports":  {func(c *Config) { c.Listen, c.MetricsListen = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		"other interface":  {func(c *Config) { c.MetricsListen = "10.1.2.3:8080" }, ""}, // the host differs: both bind
		"unset, as before": {func(c *Config) { c.MetricsListen = "" }, ""},
		"no port": {func(c *Config) { c.MetricsListen = "localhost" },
			`config: metrics_listen: "localhost" must be a host and port such as 127.0.0.1:8080 (address localhost: missing port in address)`},
		"port out of range": {func(c *Config) { c.MetricsListen = "127.0.0.1:99999" },
			`config: metrics_listen: "127.0.0.1:99999": the port must be a number within [0, 65535]`},
		"listen's address": {func(c *Config) { c.MetricsListen = "127.0.0.1:8080" },
			`config: metrics_listen: "127.0.0.1:8080" takes the port of listen ("127.0.0.1:8080"): metrics need a listener of their own; ` +
				`give metrics_listen another port, such as 127.0.0.1:9464, or remove it and set metrics_token_file to serve /metrics on listen to a bearer token`},
		"listen's port on every address": {func(c *Config) { c.MetricsListen = ":8080" },
			`config: metrics_listen: ":8080" takes the port of listen ("127.0.0.1:8080")`},
		"every address of listen": {func(c *Config) {
			c.Listen, c.PublicURL, c.MetricsListen = "0.0.0.0:9464", "https://hc.example.gov.cn", DefaultMetricsListen
		}, `config: metrics_listen: "127.0.0.1:9464" takes the port of listen ("0.0.0.0:9464")`},
		"embedded nats": {func(c *Config) { c.MetricsListen = "127.0.0.1:4222" },
			`config: metrics_listen: "127.0.0.1:4222" takes the port of nats.listen ("127.0.0.1:4222")`},
		"a token instead": {func(c *Config) { c.MetricsListen, c.MetricsTokenFile = "", "metrics.token" }, ""},
		"a token besides": {func(c *Config) { c.MetricsListen, c.MetricsTokenFile = DefaultMetricsListen, "metrics.token" },
			`config: metrics_token_file: "metrics.token" is set with metrics_listen ("127.0.0.1:9464"), which serves /metrics ` +
				`without a token on a listener of its own while listen answers it 404: the token would guard nothing`},
		"external nats": {func(c *Config) {
			c.NATS.Embedded, c.NATS.URLs, c.MetricsListen = false, []string{"nats://a:4222"}, "127.0.0.1:4222"
		}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := Default("440000")
			c.DataDir = "d"
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v\nwant %s", err, tc.want)
			}
		})
	}
}

// Wallet and scanner links were built on the Host header of the request
// when public_url was unset, so a forged Host made the node hand out
// links to another site. They are built on configuration only now:
// public_url, or the listen address when that is loopback. A node that
// others reach (listen not loopback) without public_url is refused.
// A verifier replica hands out no links and needs none.
// Behind a proxy (trusted_proxies set), a loopback listen needs public_url
// too: its links would name an address no resident's phone reaches.
func TestPublicURLIsRequiredBehindATrustedProxy(t *testing.T) {
	c := Default("440000")
	c.DataDir, c.TrustedProxies = "d", []string{"127.0.0.0/8"}
	want := `config: public_url: required when trusted_proxies is set: a node reached through a proxy would hand out wallet ` +
		`and scanner links to its own loopback address ("127.0.0.1:8080"), which residents' phones cannot reach; set it ` +
		`to the https:// address residents and scanners use, such as https://hc.example.gov.cn`
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v\nwant %s", err, want)
	}
	c.PublicURL = "https://hc.example.gov.cn"
	if err := c.Validate(); err != nil {
		t.Fatalf("with public_url: %v", err)
	}
}

func TestPublicURLIsRequiredUnlessTheNodeListensOnLoopback(t *testing.T) {
	const want = `config: public_url: required when listen (%q) is not a loopback address: wallet and scanner links are built on ` +
		`public_url, never on the Host header of a request, which its sender chooses; set it to the https:// address residents ` +
		`and scanners use, such as https://hc.example.gov.cn`
	for _, tc := range []struct {
		listen, publicURL string
		verifier, ok      bool
	}{
		{"127.0.0.1:8080", "", false, true},
		{"127.0.0.1:0", "", false, true},
		{"localhost:8080", "", false, true},
		{"[::1]:8080", "", false, true},
		{"0.0.0.0:8080", "", false, false},
		{":8080", "", false, false},
		{"10.1.2.3:8080", "", false, false},
		{"hc.internal:8080", "", false, false},
		{"0.0.0.0:8080", "https://hc.example.gov.cn", false, true},
		{"0.0.0.0:8080", "", true, true},
	} {
		c := Default("440000")
		c.DataDir, c.Listen, c.PublicURL = "d", tc.listen, tc.publicURL
		if tc.verifier {
			c.Role, c.Replica.Home, c.Replica.Token = RoleVerifier, "https://home.example", "t"
			c.NATS.Embedded, c.NATS.URLs = false, []string{"nats://a:4222"}
		}
		err := c.Validate()
		if tc.ok && err != nil {
			t.Errorf("listen %s, public_url %q, verifier %v: refused: %v", tc.listen, tc.publicURL, tc.verifier, err)
		}
		if !tc.ok && (err == nil || err.Error() != strings.ReplaceAll(want, "%q", `"`+tc.listen+`"`)) {
			t.Errorf("listen %s, public_url %q: Validate() = %v\nwant %s", tc.listen, tc.publicURL, err,
				strings.ReplaceAll(want, "%q", `"`+tc.listen+`"`))
		}
	}
}
