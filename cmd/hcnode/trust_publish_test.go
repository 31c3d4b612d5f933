package main

import (
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/testkit"
)

// signedTrustList writes a trust list of federation "demo" signed by its
// one operator, and returns its path.
func signedTrustList(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, args := range [][]string{
		{"trust", "keygen", "--out", p("alice")},
		{"trust", "keygen", "--out", p("gd-root")},
		{"trust", "propose", "--federation", "demo", "--threshold", "1", "--add-operator", "alice:Alice:" + p("alice.pub.jwk"),
			"--add-member", "440000:Guangdong:" + p("gd-root.pub.jwk"), "--out", p("v1.proposal.json")},
		{"trust", "sign", "--key", p("alice.key"), "--in", p("v1.proposal.json"), "--out", p("v1.json")},
	} {
		if out, err := run(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
	return p("v1.json")
}

// silentServer accepts TCP connections and never says a word, as a
// firewall or a wrong port might.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return "nats://" + l.Addr().String()
}

// TestTrustPublishEndsWithinItsTimeoutSayingWhy runs 'trust publish'
// against a port nothing listens on, a server that never answers, and a
// real server given a wrong password: each fails within its --timeout
// (plus a margin for the process), with a sentence naming the server and
// the cause, and an error errors.Is can classify.
func TestTrustPublishEndsWithinItsTimeoutSayingWhy(t *testing.T) {
	tl := signedTrustList(t)
	t.Setenv("HCFED_NATS_OPERATOR_PASSWORD", rand.Text())
	for _, u := range []string{"440000", "310000", "110000"} {
		t.Setenv("HCFED_NATS_"+u+"_PASSWORD", rand.Text())
	}
	srv, err := federation.StartServer(federation.ServerConfig{Port: -1, StoreDir: t.TempDir(), ConfigFile: "../../configs/nats-server.conf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	// The margin is wide for loaded machines (a 0.5 s one failed a CI run
	// at 2.17 s): what this guards against is waiting out the command's
	// default 15 s, or for ever, not a fraction of a second.
	const timeout, margin = 1500 * time.Millisecond, 4 * time.Second
	if timeout+margin >= defaultNATSTimeout {
		t.Fatal("the bound must stay below the default timeout to show --timeout is obeyed")
	}
	refused, silent := testkit.DeadNATSURL(t), silentServer(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
		kind error
	}{
		{"nothing listens", []string{"--nats", refused}, "NATS server " + refused + " not reachable within 1.5s: ", federation.ErrUnreachable},
		{"no answer", []string{"--nats", silent}, "NATS server " + silent + " not reachable within 1.5s: ", federation.ErrUnreachable},
		{"two servers, neither answers", []string{"--nats", silent + "," + refused}, "NATS server " + silent + "," + refused + " not reachable", federation.ErrUnreachable},
		{"wrong password", []string{"--nats", srv.ClientURL(), "--user", "operator", "--password", "wrong"},
			"NATS server " + srv.ClientURL() + ` refused user "operator": wrong user, password or credentials file (nats: Authorization Violation)`, federation.ErrAuthFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The cases mostly wait out the timeout, each on its own
			// command and connection: side by side, 1.5 s for all, not each.
			t.Parallel()
			start := time.Now()
			out, err := run(t, append([]string{"trust", "publish", tl, "--timeout", timeout.String()}, tc.args...)...)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("published: %s", out)
			}
			if took > timeout+margin {
				t.Errorf("took %s with --timeout %s", took, timeout)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\nwant prefix %q", err, tc.want)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %v is not %v", err, tc.kind)
			}
			if strings.Contains(err.Error(), "wrong\"") || strings.Contains(out, "wrong") {
				t.Errorf("the password shows: %q %q", err, out)
			}
		})
	}
}

// TestTrustPublishTwiceWithOneAccountPerProvincePublishesOnce follows the
// runbook with one NATS account per province (nats-config, nats-setup,
// trust publish --nkey-seed) and publishes the first version twice, back
// to back: the second run must see the first one's list, say so and
// publish nothing. It read the merged bucket, which the server fills from
// the operators' own one a moment later, and published version 1 again
// (revision 2), saying the federation held no trust list.
func TestTrustPublishTwiceWithOneAccountPerProvincePublishesOnce(t *testing.T) {
	tl := signedTrustList(t)
	dir := t.TempDir()
	if out, err := run(t, "nats-config", "--trust-list", tl, "--out", dir); err != nil {
		t.Fatalf("nats-config: %v\n%s", err, out)
	}
	srv, err := federation.StartServer(federation.ServerConfig{Port: -1, StoreDir: t.TempDir(), ConfigFile: filepath.Join(dir, "nats-server.conf")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if out, err := run(t, "nats-setup", "--dir", dir, "--trust-list", tl, "--nats", srv.ClientURL()); err != nil {
		t.Fatalf("nats-setup: %v\n%s", err, out)
	}
	publish := []string{"trust", "publish", tl, "--nkey-seed", filepath.Join(dir, "operator.nk"), "--nats", srv.ClientURL()}
	out, err := run(t, publish...)
	if err != nil {
		t.Fatalf("first publish: %v\n%s", err, out)
	}
	if !strings.Contains(out, "the federation holds no trust list yet") || !strings.Contains(out, "published trust list version 1 (revision 1,") {
		t.Fatalf("first publish said:\n%s", out)
	}
	out, err = run(t, publish...)
	if err != nil {
		t.Fatalf("second publish: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "the federation already holds this trust list (version 1, sha256 ") || strings.Contains(out, "published") {
		t.Errorf("second publish, at once after the first, said:\n%s", out)
	}
}

// TestNATSSetupFailsAtOnceWithoutAServer: nats-setup against a port
// nothing listens on says at once what it does and how long it may wait,
// and fails at once saying the server is not reachable and why; it waited
// 45 s in silence.
func TestNATSSetupFailsAtOnceWithoutAServer(t *testing.T) {
	tl := signedTrustList(t)
	dir := t.TempDir()
	if out, err := run(t, "nats-config", "--trust-list", tl, "--out", dir); err != nil {
		t.Fatalf("nats-config: %v\n%s", err, out)
	}
	start := time.Now()
	out, err := run(t, "nats-setup", "--dir", dir, "--trust-list", tl, "--nats", "nats://127.0.0.1:1")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("nats-setup without a server took %s to fail", took.Round(time.Second))
	}
	if err == nil || !strings.Contains(err.Error(), "NATS server nats://127.0.0.1:1 not reachable") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("nats-setup without a server: %v, want it not reachable, connection refused\n%s", err, out)
	}
	requireSaid(t, out, "on nats://127.0.0.1:1, as the operators and each province's admin: a server out of reach fails at once", "45s in all at most")
}
