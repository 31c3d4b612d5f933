package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/api"
	"github.com/hcfed/hcfed/node/config"
)

// tls loads the TLS certificate and key as a start does, and checks the
// certificate's validity.
func (c *checker) tls() {
	const what = "tls"
	if c.cfg.TLS.CertFile == "" {
		return
	}
	certs, err := api.NewCertReloader(c.cfg.TLS.CertFile, c.cfg.TLS.KeyFile)
	if err != nil {
		c.fail(what, err)
		return
	}
	leaf := certs.Leaf()
	if leaf == nil {
		c.ok(what, c.cfg.TLS.CertFile+" loads and matches its key")
		return
	}
	names := certNames(leaf)
	rest := leaf.NotAfter.Sub(c.now)
	switch {
	case rest <= 0:
		c.fail(what, fmt.Errorf("the certificate in %s%s expired at %s: clients refuse it; install a new one",
			c.cfg.TLS.CertFile, names, day(leaf.NotAfter)))
	case c.now.Before(leaf.NotBefore):
		c.warn(what, fmt.Sprintf("the certificate in %s%s is not valid before %s: clients refuse it until then",
			c.cfg.TLS.CertFile, names, day(leaf.NotBefore)))
	case rest < certWarnBefore:
		c.warn(what, fmt.Sprintf("the certificate in %s%s expires at %s (in %s): renew it; the node takes the new files without a restart",
			c.cfg.TLS.CertFile, names, day(leaf.NotAfter), left(rest)))
	default:
		c.ok(what, fmt.Sprintf("%s%s matches its key, expires %s (in %s)", c.cfg.TLS.CertFile, names,
			day(leaf.NotAfter), left(rest)))
	}
}

// certNames lists the names and addresses a certificate is for, as
// " (a, b)", or "" if none.
func certNames(leaf *x509.Certificate) string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// listen checks the addresses a start binds: each is bound and closed at
// once, never kept.
func (c *checker) listen() {
	c.bindOnce("listen", c.cfg.Listen, settingListen)
	if c.cfg.MetricsListen != "" {
		c.bindOnce("metrics_listen", c.cfg.MetricsListen, settingMetricsListen)
	}
	c.metrics()
	if c.cfg.NATS.Embedded {
		c.bindOnce("nats.listen", c.cfg.NATS.Listen, settingNATSListen)
	}
}

// metrics says where /metrics is served, and to whom: on metrics_listen
// without a token, on listen to the bearer of the metrics token (read as
// a start reads it), or nowhere, which is a warning.
func (c *checker) metrics() {
	const what = "metrics"
	switch {
	case c.cfg.MetricsListen != "":
		c.ok(what, "served on metrics_listen ("+c.cfg.MetricsListen+") only, without a token; listen answers /metrics 404")
	case c.cfg.MetricsTokenFile != "":
		if _, err := metricsToken(c.cfg); err != nil {
			c.fail(what, err)
			return
		}
		c.ok(what, "served on listen only with the bearer token in "+c.cfg.MetricsTokenPath()+" ("+tokenFileMode(c.cfg.MetricsTokenPath())+
			"; Prometheus: authorization: credentials_file); 401 metrics_token_required without it; a token rotated in the file "+
			"is taken on SIGHUP (systemctl reload hcnode)")
	default:
		c.warn(what, "served nowhere: neither metrics_listen nor metrics_token_file is set, and listen answers /metrics 404; "+
			"set metrics_listen (such as "+config.DefaultMetricsListen+") to serve it on a listener of its own, or "+
			"metrics_token_file to serve it on listen to a bearer token")
	}
}

// tokenFileMode says who may read the metrics token file at path, which
// config.ReadMetricsToken has read: not every user (it refuses that).
func tokenFileMode(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "mode unknown"
	}
	perm := fi.Mode().Perm()
	if perm&0o070 != 0 {
		return fmt.Sprintf("mode %04o: the node's group reads it too, as a Prometheus in that group may; chmod 600 it otherwise", perm)
	}
	return fmt.Sprintf("mode %04o: only its owner reads it", perm)
}

func (c *checker) bindOnce(what, addr, setting string) {
	if anyPort(addr, setting) {
		c.ok(what, addr+": a free port is chosen at start")
		return
	}
	l, err := bind(addr, setting)
	switch {
	case err == nil:
		l.Close()
		c.ok(what, addr+" is free")
	case c.running && errors.Is(err, syscall.EADDRINUSE):
		c.ok(what, addr+" is in use, presumably by the node running on this data directory")
	default:
		c.fail(what, err)
	}
}

// nats connects to the federation's external NATS, with the node's
// credentials, once over its servers within the check's timeout, and
// closes the connection. A server out of reach is a warning: the node
// starts without it, verifies from its cache and retries. Credentials the
// server takes as another province's user (federation.Connect's probe of
// the reply inbox) are a failure: the node would never sync with them.
func (c *checker) nats(ctx context.Context) {
	const what = "nats"
	if c.cfg.NATS.Embedded {
		if err := checkEmbeddedNATS(c.cfg); err != nil {
			c.fail(what, err)
			return
		}
		if c.cfg.NATS.ServerConf == "" {
			c.warn(what, "embedded server on "+c.cfg.NATS.Listen+" "+openEmbeddedNATS)
			return
		}
		c.ok(what, "embedded server, started with the node on "+c.cfg.NATS.Listen)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.natsTimeout)
	defer cancel()
	// One pass over the servers: a server that refuses the connection
	// is reported at once, not after the whole timeout.
	cc := connConfig(c.cfg, c.cfg.NATS.URLs, slog.New(slog.DiscardHandler))
	cc.OnePass = true
	conn, err := federation.Connect(ctx, cc)
	if errors.Is(err, federation.ErrForeignCredentials) {
		c.fail(what, fmt.Errorf("%w: the node would start, but not sync with the federation until it has its own", err))
		return
	}
	if err != nil {
		c.warn(what, err.Error()+": the node starts all the same, verifies from what it cached and retries")
		return
	}
	defer conn.Close()
	c.ok(what, "connected to "+conn.Server())
}
