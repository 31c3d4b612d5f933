package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// testCA is a certificate authority made by the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "HCFed test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a server certificate for 127.0.0.1 with the given serial
// number, and its key, to certFile and keyFile.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then certificate: the node must never pair a new
	// certificate with an old key (it would refuse the pair and keep the
	// old one, which the wait below tolerates).
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	writePEM(t, certFile, "CERTIFICATE", der)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSWithACertificateSwappedWhileServing serves a node over HTTPS
// with a certificate from a CA the test made, swaps the certificate
// files while the node serves, and checks that new connections get the
// new certificate, that a connection opened before the swap keeps
// working, that plain HTTP and TLS 1.1 are refused, and that a bad pair
// keeps the certificate in use.
func TestHTTPSWithACertificateSwappedWhileServing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default("440000")
	cfg.Name, cfg.DataDir = "Guangdong", filepath.Join(dir, "gd")
	cfg.NATS.Embedded, cfg.NATS.URLs = false, []string{"nats://127.0.0.1:1"}
	if _, err := daemon.Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	cfg.TLS.CertFile, cfg.TLS.KeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 100, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l, TLSCheckEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.URL[:8] != "https://" {
		t.Fatalf("URL %q, want https", d.URL)
	}

	kept := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	serial := func(c *http.Client) (int64, error) {
		resp, err := c.Get(d.URL + "/healthz")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body) // so the connection is kept for reuse
		if resp.StatusCode != http.StatusOK {
			return 0, &httpError{resp.StatusCode}
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
	}
	if s, err := serial(kept); err != nil || s != 100 {
		t.Fatalf("first certificate: serial %d, %v", s, err)
	}

	ca.issue(t, 200, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	testkit.WaitFor(t, 10*time.Second, 20*time.Millisecond, "the new certificate on a new connection", func() error {
		fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
		defer fresh.CloseIdleConnections()
		s, err := serial(fresh)
		if err == nil && s != 200 {
			return &serialError{s}
		}
		return err
	})
	// The connection opened before the swap was not dropped.
	if s, err := serial(kept); err != nil || s != 100 {
		t.Fatalf("kept connection after the swap: serial %d, %v", s, err)
	}

	// A broken pair keeps the certificate in use.
	if err := os.WriteFile(cfg.TLS.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadTLS(); err == nil {
		t.Fatal("reload of a broken certificate file succeeded")
	}
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	if s, err := serial(fresh); err != nil || s != 200 {
		t.Fatalf("after a failed reload: serial %d, %v", s, err)
	}

	// Plain HTTP and TLS 1.1 get no answer.
	if resp, err := http.Get("http://" + d.Addr() + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP answered 200 on the HTTPS port")
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := serial(old); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
}

type httpError struct{ status int }

func (e *httpError) Error() string { return http.StatusText(e.status) }

type serialError struct{ got int64 }

func (e *serialError) Error() string { return "still serving serial " + big.NewInt(e.got).String() }
