package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// testFed is the federation id of every test.
const testFed = "demo"

// runServer starts an embedded server on a random port with its JetStream
// store in a temp dir, shut down when the test ends.
func runServer(t testing.TB) *Server {
	t.Helper()
	return runServerWith(t, ServerConfig{})
}

func runServerWith(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// restartServer shuts s down, waits until c has noticed, starts a server
// on the same port over the same store dir, and waits until c has
// reconnected to it.
func restartServer(t *testing.T, s *Server, dir string, c *Conn) *Server {
	t.Helper()
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(s.ClientURL(), "nats://"))
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("port of %s: %v", s.ClientURL(), err)
	}
	s.Shutdown()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if c.Connected() {
			return errors.New("still connected")
		}
		return nil
	})
	again := runServerWith(t, ServerConfig{StoreDir: dir, Port: port})
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if st := c.Stats(); !c.Connected() || st.Reconnects == 0 {
			return fmt.Errorf("connected %v, stats %+v", c.Connected(), st)
		}
		return nil
	})
	return again
}

// connect connects to s as province (empty: an operator), closed when the
// test ends. mods adjust the config before connecting.
func connect(t testing.TB, s *Server, province string, mods ...func(*ConnConfig)) *Conn {
	t.Helper()
	cfg := ConnConfig{URLs: []string{s.ClientURL()}, Federation: testFed, Province: province}
	for _, m := range mods {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// connectReady connects and makes sure the streams exist.
func connectReady(t testing.TB, s *Server, province string, mods ...func(*ConnConfig)) *Conn {
	t.Helper()
	c := connect(t, s, province, mods...)
	if err := c.EnsureStreams(testCtx(t)); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return c
}

// testCtx is a context that ends with the test or after 20 seconds.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkFor calls f every interval until it returns nil, failing the test
// with f's last error if that has not happened within timeout.
func checkFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	testkit.WaitFor(t, timeout, interval, "condition", f)
}

// recorder collects what a handler is given, safe for concurrent use.
// consumedSeqs consumes c's revocations from the first and records the
// stream sequence of each.
func consumedSeqs(t *testing.T, ctx context.Context, c *Conn) *recorder[uint64] {
	t.Helper()
	var revs recorder[uint64]
	if err := c.ConsumeRevocations(ctx, 1, func(m RevocationMsg) error {
		revs.add(m.StreamSeq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return &revs
}

type recorder[T any] struct {
	mu  sync.Mutex
	got []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, v)
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

// waitLen waits until r holds n values and returns them.
func (r *recorder[T]) waitLen(t testing.TB, n int) []T {
	t.Helper()
	return r.waitLenWithin(t, n, 10*time.Second)
}

// waitLenWithin is waitLen with its own deadline, for waits that include
// a consumer noticing a failure by its missed heartbeats.
func (r *recorder[T]) waitLenWithin(t testing.TB, n int, d time.Duration) []T {
	t.Helper()
	var got []T
	checkFor(t, d, 10*time.Millisecond, func() error {
		if got = r.all(); len(got) < n {
			return fmt.Errorf("have %d values, want %d", len(got), n)
		}
		return nil
	})
	return got
}
