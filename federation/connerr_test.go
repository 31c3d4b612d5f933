package federation

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// TestConnectToNothingIsUnreachableWithTheDialError connects to a port
// nothing listens on: Connect retries until its deadline, then says which
// server and why (the dial error, not a bare "context deadline exceeded").
func TestConnectToNothingIsUnreachableWithTheDialError(t *testing.T) {
	t.Parallel()
	url := testkit.DeadNATSURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	c, err := Connect(ctx, ConnConfig{URLs: []string{url}, Federation: testFed, User: "operator", Password: "secret"})
	if err == nil {
		c.Close()
		t.Fatal("connected to nothing")
	}
	// Connect retries until its deadline: a retry loop that ignored it
	// would run for ever. The margin is wide for loaded machines.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s with a 1s deadline", took)
	}
	var ce *ConnectError
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrAuthFailed) || !errors.As(err, &ce) {
		t.Fatalf("%v: want a ConnectError wrapping ErrUnreachable", err)
	}
	if want := "NATS server " + url + " not reachable: "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q, want %q… connection refused", err, want)
	}
	if ce.As != `user "operator"` || strings.Contains(err.Error(), "secret") {
		t.Errorf("As = %q, error %q", ce.As, err)
	}
}

// TestConnectGivenUpLogsItsCloseBeforeReturning: a Connect whose context
// ends before any server answered (a node stopped while NATS is down)
// returns only after nats.go's closed handler has logged, so a caller's
// next line ("stopped cleanly") is the log's last. Before, Connect closed
// the connection without waiting and the handler's "nats connection
// closed" could come after it.
func TestConnectGivenUpLogsItsCloseBeforeReturning(t *testing.T) {
	t.Parallel()
	for i := range 5 {
		var logs testkit.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		c, err := Connect(ctx, ConnConfig{URLs: []string{testkit.DeadNATSURL(t)}, Federation: testFed, Logger: bufLogger(t, &logs)})
		cancel()
		if err == nil {
			c.Close()
			t.Fatal("connected to nothing")
		}
		if !strings.Contains(logs.String(), "nats connection closed") {
			t.Fatalf("attempt %d: Connect returned (%v) before its connection's close was logged:\n%s", i, err, logs.String())
		}
	}
}

// TestOnePassConnectReportsARefusalAtOnce: a check's one-pass Connect to
// a port nothing listens on fails with the dial error well before its
// deadline (the deadline has not passed when it returns), where a node's
// Connect retries until it.
func TestOnePassConnectReportsARefusalAtOnce(t *testing.T) {
	t.Parallel()
	url := testkit.DeadNATSURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Connect(ctx, ConnConfig{URLs: []string{url}, Federation: testFed, OnePass: true})
	if err == nil {
		c.Close()
		t.Fatal("connected to nothing")
	}
	if ctx.Err() != nil {
		t.Fatalf("one-pass Connect waited for its deadline: %v", err)
	}
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("%v: want ErrUnreachable", err)
	}
	if want := "NATS server " + url + " not reachable: "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q, want %q… connection refused", err, want)
	}
}

// TestOnePassConnectReportsWrongCredentials: a one-pass Connect with a
// wrong password says the server refused it, not that it is unreachable,
// and does not wait for its deadline.
func TestOnePassConnectReportsWrongCredentials(t *testing.T) {
	s, _ := startDemoConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Connect(ctx, ConnConfig{URLs: []string{s.ClientURL()}, Federation: testFed, Province: "440000",
		User: "440000", Password: "not-the-password", OnePass: true})
	if err == nil {
		c.Close()
		t.Fatal("connected with a wrong password")
	}
	if ctx.Err() != nil || !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), `refused user "440000"`) {
		t.Fatalf("%v (deadline: %v): want ErrAuthFailed at once", err, ctx.Err())
	}
}

// TestRefusedReplyInboxFailsOperationsAtOnce connects as a province's
// user of the shipped configuration without its own inbox prefix, as a
// command run with the wrong user does: the server refuses the reply
// inbox's subscription, and a JetStream call fails at once with
// ErrPermissionDenied instead of waiting for its deadline.
func TestRefusedReplyInboxFailsOperationsAtOnce(t *testing.T) {
	s, pw := startDemoConfig(t)
	c := connect(t, s, "", asUser("440000", pw["440000"]))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := c.EnsureStreams(ctx)
	if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), `Subscription to "_INBOX.`) {
		t.Fatalf("EnsureStreams: %v, want ErrPermissionDenied for the reply inbox", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusal took %s: it should not wait for the deadline", took)
	}
}

// TestConnectWithAnotherProvincesCredentialsSaysSo: a node of Shanghai
// given Guangdong's credentials is let in by the server, as Guangdong's
// user: Connect finds it out at once (the server refuses the user
// Shanghai's reply inbox) and says so, naming the province, in the
// shipped single-account configuration and in accounts mode (the .nk
// seeds of nats-config). Each province's own credentials still connect.
func TestConnectWithAnotherProvincesCredentialsSaysSo(t *testing.T) {
	demo, pw := startDemoConfig(t)
	_, dir, conf := writeGenerated(t, []string{gd, sh}, AccountsOptions{Federation: testFed})
	accounts := runServerWith(t, ServerConfig{ConfigFile: conf})
	seed := func(p string) func(*ConnConfig) {
		return func(c *ConnConfig) {
			c.Isolation, c.NKeySeedFile = IsolationAccounts, filepath.Join(dir, SeedFile(p, RoleNode))
		}
	}
	for _, tc := range []struct {
		name     string
		s        *Server
		own, gds func(*ConnConfig)
		as       string
	}{
		{"single account", demo, asUser(sh, pw[sh]), asUser(gd, pw[gd]), `user "440000"`},
		{"accounts", accounts, seed(sh), seed(gd), "NKey seed file " + filepath.Join(dir, "440000.nk")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connect(t, tc.s, sh, tc.own) // its own credentials connect
			cfg := ConnConfig{URLs: []string{tc.s.ClientURL()}, Federation: testFed, Province: sh}
			tc.gds(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Connect(ctx, cfg)
			if err == nil {
				c.Close()
				t.Fatal("connected as Shanghai with Guangdong's credentials")
			}
			want := "accepted " + tc.as + ", but not as province 310000's user: it refuses it the province's reply inbox _INBOX_310000.>"
			if ctx.Err() != nil || !errors.Is(err, ErrForeignCredentials) || !strings.Contains(err.Error(), want) {
				t.Fatalf("%v (deadline: %v): want ErrForeignCredentials at once, saying %q", err, ctx.Err(), want)
			}
		})
	}
}
