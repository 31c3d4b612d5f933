package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// CertReloader serves a certificate and key from files, and swaps in new
// ones when the files change, without dropping a connection: handshakes
// after the swap get the new certificate, connections already open keep
// theirs. A failed reload (a half-written file, a key that does not
// match) keeps the certificate in use and returns the error.
type CertReloader struct {
	certFile, keyFile string

	mu   sync.Mutex // serialises reloads
	sum  [32]byte   // of the files last loaded
	cert atomic.Pointer[tls.Certificate]
}

// NewCertReloader loads certFile and keyFile (PEM) or fails.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again and, if they changed and hold a valid
// certificate and matching key, serves them from the next handshake on.
// It reports whether the certificate in use changed.
func (r *CertReloader) Reload() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	sum := sha256.Sum256(append(append(bytes.Clone(certPEM), 0), keyPEM...))
	if sum == r.sum && r.cert.Load() != nil {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("tls: %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&cert)
	r.sum = sum
	return true, nil
}

// Leaf is the certificate in use (its names and validity), nil if none
// is loaded.
func (r *CertReloader) Leaf() *x509.Certificate {
	if c := r.cert.Load(); c != nil {
		return c.Leaf
	}
	return nil
}

// Config is the server's TLS configuration: TLS 1.2 or later, and for
// TLS 1.2 only ECDHE key exchange with AEAD ciphers (TLS 1.3's suites are
// all of that kind and not configurable).
func (r *CertReloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := r.cert.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("tls: no certificate loaded")
		},
	}
}

// ipExtractor takes the client address from X-Forwarded-For only when the
// request came through one of the trusted proxies (CIDRs, checked by
// config.Validate); otherwise from the connection. With no trusted proxy,
// a client cannot choose its own address by sending the header.
func ipExtractor(trusted []string) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		if _, n, err := net.ParseCIDR(p); err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
