package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/hcfed/hcfed/node/api"
	"github.com/hcfed/hcfed/node/config"
)

// listen opens the HTTP listener (opt.Listener, or cfg.Listen), behind TLS
// when cfg.TLS names a certificate; it returns the URL scheme to print and
// the certificate reloader (nil without TLS).
func listen(cfg config.Config, opt Options) (l net.Listener, scheme string, certs *api.CertReloader, err error) {
	if l = opt.Listener; l == nil {
		if l, err = bind(cfg.Listen, settingListen); err != nil {
			return nil, "", nil, err
		}
	}
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
	settingListen     = "listen (HCNODE_LISTEN)"
	settingNATSListen = "nats.listen (HCNODE_NATS_LISTEN)"
)

// bind listens on addr, the value of setting; an address another
// program holds is refused with what to do about it.
func bind(addr, setting string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen %s: the address is already in use by another program (another "+
			"hcnode?): stop it, or set %s to a free port: %w", addr, setting, err)
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
