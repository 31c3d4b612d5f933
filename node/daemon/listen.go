package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/api"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/datadir"
)

// bindFirst is the first step of Start and StartVerifier: it takes the
// data directory's lock and opens the HTTP listener (listen) and the
// metrics one (listenMetrics, nil when none is configured), adding each
// to cleanup as it succeeds.
func bindFirst(cfg config.Config, opt Options, cleanup *undo) (*datadir.Lock, net.Listener, string, *api.CertReloader, net.Listener, error) {
	lock, err := datadir.Acquire(cfg.DataDir, "serve")
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	cleanup.add(func() { lock.Unlock() })
	l, scheme, certs, err := listen(cfg, opt)
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	cleanup.add(func() { l.Close() })
	ml, err := listenMetrics(cfg)
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	if ml != nil {
		cleanup.add(func() { ml.Close() })
	}
	return lock, l, scheme, certs, ml, nil
}

// listen opens the HTTP listener (opt.Listener, or cfg.Listen), holding
// at most limits.max_connections open at once, behind TLS when cfg.TLS
// names a certificate; it returns the URL scheme to print and the
// certificate reloader (nil without TLS).
func listen(cfg config.Config, opt Options) (l net.Listener, scheme string, certs *api.CertReloader, err error) {
	if l = opt.Listener; l == nil {
		if l, err = bind(cfg.Listen, settingListen); err != nil {
			return nil, "", nil, err
		}
	}
	// Below TLS, so that a connection still in its handshake counts too;
	// past the cap the next one is not accepted, and waits in the
	// kernel's queue (or the client's timeout) until one closes.
	l = netutil.LimitListener(l, cfg.Limits.MaxConnections)
	if cfg.TLS.CertFile == "" {
		return l, "http://", nil, nil
	}
	if certs, err = api.NewCertReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
		l.Close()
		return nil, "", nil, err
	}
	return tls.NewListener(l, certs.Config()), "https://", certs, nil
}

// The settings that name a listen address, as bind's refusal names them.
const (
	settingListen        = "listen (HCNODE_LISTEN)"
	settingNATSListen    = "nats.listen (HCNODE_NATS_LISTEN)"
	settingMetricsListen = "metrics_listen (HCNODE_METRICS_LISTEN)"
)

// listenMetrics binds metrics_listen, or returns nil when it is unset
// (/metrics is then served on the public listener to the metrics token's
// bearer, or nowhere).
func listenMetrics(cfg config.Config) (net.Listener, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	return bind(cfg.MetricsListen, settingMetricsListen)
}

// metricsToken reads the metrics token of metrics_token_file, or returns
// "" when it is unset, so that a start refuses a missing or weak token
// before it binds a port.
func metricsToken(cfg config.Config) (string, error) {
	if cfg.MetricsTokenFile == "" {
		return "", nil
	}
	return config.ReadMetricsToken(cfg.MetricsTokenPath())
}

// reloadMetricsToken reads metrics_token_file again, as a start reads
// it, into srv, whose /metrics asks for it from the next request on (on
// SIGHUP: Daemon.Reload). A file that is now missing, empty, weak or
// readable by every user is logged and returned, and the token in use is
// kept: a scrape keeps working until the file is fixed. Neither the log
// nor the error holds a token. Without metrics_token_file (or with
// metrics_listen) it does nothing.
func reloadMetricsToken(cfg config.Config, srv *api.Server, log *slog.Logger) error {
	if cfg.MetricsTokenFile == "" || cfg.MetricsListen != "" {
		return nil
	}
	path := cfg.MetricsTokenPath()
	tok, err := config.ReadMetricsToken(path)
	changed := false
	if err == nil {
		changed, err = srv.SetMetricsToken(tok)
	}
	if err != nil {
		log.Error("metrics token reload failed; keeping the one in use", "metrics_token_file", path, "err", err)
		return err
	}
	if changed {
		log.Info("metrics token reloaded: /metrics asks for the new one", "metrics_token_file", path)
	}
	return nil
}

// serveMetrics serves m on ml, metrics_listen's listener, until ctx ends,
// in a goroutine wg counts, and logs where /metrics is served: there, or,
// when ml is nil, on the public listener whose URL is public to the
// bearer of the metrics token (metrics_token_file), or nowhere. It
// returns the URL of the metrics page, "" when there is none.
func serveMetrics(ctx context.Context, wg *sync.WaitGroup, ml net.Listener, cfg config.Config, public string, m *node.Metrics,
	shutdown time.Duration, log *slog.Logger) string {
	switch {
	case ml == nil && cfg.MetricsTokenFile != "":
		u := public + "/metrics"
		log.Info("metrics are served on the public listener, only with the bearer token of metrics_token_file",
			"metrics_url", u, "metrics_token_file", cfg.MetricsTokenPath())
		return u
	case ml == nil:
		log.Warn("metrics are served nowhere: the public listener answers /metrics 404 metrics_not_public; set metrics_listen " +
			"(such as " + config.DefaultMetricsListen + ") to serve them on a listener of its own, or metrics_token_file to serve " +
			"them on the public listener to a bearer token")
		return ""
	}
	u := "http://" + shownAddr(cfg.MetricsListen, ml) + "/metrics"
	srv := api.NewMetricsServer(m, shutdown)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ml); err != nil {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("metrics are served on metrics_listen only", "metrics_url", u)
	return u
}

// shownAddr is l's address for the log, as the setting that bound it
// (configured) names it: Go binds "0.0.0.0:P" on every address, IPv6's
// too, and calls it "[::]:P", which staff who wrote 0.0.0.0 do not
// recognise.
func shownAddr(configured string, l net.Listener) string {
	a, ok := l.Addr().(*net.TCPAddr)
	if host, _, err := net.SplitHostPort(configured); ok && err == nil && host == "0.0.0.0" && a.IP.IsUnspecified() {
		return net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	return l.Addr().String()
}

// linkBase is the base of the wallet and scanner links the node hands
// out: public_url, or else the URL of l, the public listener, which
// must then be a loopback address (a demo, a test, a node only this
// machine reaches); never the Host header of a request, which its
// sender chooses. config.Validate refuses a listen address that is not
// loopback without public_url; this also holds for a listener given in
// Options.
func linkBase(cfg config.Config, scheme string, l net.Listener, log *slog.Logger) (string, error) {
	if u := strings.TrimRight(cfg.PublicURL, "/"); u != "" {
		return u, nil
	}
	if a, ok := l.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		return "", fmt.Errorf("config: public_url: required when the node listens on %s, which is not a loopback address: "+
			"wallet and scanner links are built on public_url, never on the Host header of a request; set public_url "+
			"(HCNODE_PUBLIC_URL) to the https:// address residents and scanners use, such as https://hc.example.gov.cn", l.Addr())
	}
	base := scheme + l.Addr().String()
	log.Info("public_url is unset: wallet and scanner links are built on the loopback address the node listens on, "+
		"which only this machine reaches; set public_url when residents and scanners reach the node from elsewhere", "link_base", base)
	return base, nil
}

// bind listens on addr, the value of setting; an address another
// program holds is refused with what to do about it.
func bind(addr, setting string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("listen %s: the address is already in use by another program (another "+
			"hcnode?): stop it, or set %s to a free port: %w", addr, setting, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("listen %s: no network interface of this machine has that address: set %s to one "+
			"of its addresses, to 0.0.0.0 (every address) or to 127.0.0.1 (behind a proxy on this machine): %w", addr, setting, err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("listen %s: this user may not listen there (a port below 1024 needs a privilege that "+
			"the node's user, and configs/hcnode.service, do not grant): set %s to a port above 1024, behind the "+
			"province's proxy: %w", addr, setting, err)
	case errors.As(err, &dns) && dns.IsNotFound:
		return nil, fmt.Errorf("listen %s: %q is no IP address, nor a name this machine resolves: set %s to an "+
			"address of this machine, such as 0.0.0.0 (every address) or 127.0.0.1: %w", addr, dns.Name, setting, err)
	}
	return nil, fmt.Errorf("listen %s: %w", addr, err)
}

// probeNATSListen binds the embedded NATS server's address and lets it go
// again, so that one another program holds is refused, as the HTTP
// port is, before anything starts; nats-server itself would wait for
// its listener, then fail in its own words with its store made. Another
// program may still take the port between the probe and nats-server's
// bind: that start then fails as before.
func probeNATSListen(cfg config.Config) error {
	if !cfg.NATS.Embedded {
		return nil
	}
	if anyPort(cfg.NATS.Listen, settingNATSListen) {
		return nil
	}
	l, err := bind(cfg.NATS.Listen, settingNATSListen)
	if err != nil {
		return err
	}
	return l.Close()
}

// anyPort reports whether addr, the value of setting, asks for a port
// chosen at start, which nothing else can hold: there is nothing to
// probe. That is ":0", and for nats.listen also nats-server's own
// ":-1", which startEmbedded passes on (the HTTP listener refuses it).
func anyPort(addr, setting string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && (port == "0" || port == "-1" && setting == settingNATSListen)
}
