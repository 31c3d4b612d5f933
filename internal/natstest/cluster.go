// Package natstest starts a real nats-server cluster with JetStream inside
// a test process: three (or more) servers routed to each other on free
// loopback ports, each with its own store directory, which a test can kill
// and restart on the same ports and store to exercise failover.
package natstest

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// Limits of the harness's waits.
const (
	// ReadyTimeout bounds a server's start until it accepts clients. A
	// clustered JetStream server took over 10 s on a loaded 2-core
	// machine.
	ReadyTimeout = 30 * time.Second
	// LeaderTimeout bounds the wait for a JetStream meta leader, and for
	// stream replicas to become current: a Raft election after a server
	// is killed takes a few seconds.
	LeaderTimeout = 30 * time.Second
	pollEvery     = 20 * time.Millisecond
)

// GlobalAccount is the account of clients on a server without accounts.
const GlobalAccount = "$G"

// Config adjusts a cluster. The zero value is a 3-server cluster named
// "hcfed".
type Config struct {
	// Servers is the cluster size; default 3.
	Servers int
	// Name is the cluster name; default "hcfed".
	Name string
	// Configure, if set, adjusts server i's options before each start,
	// for accounts and users.
	Configure func(i int, o *server.Options)
}

// Cluster is a running nats-server cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	t       testing.TB
	cfg     Config
	clients []int // client port of each server
	routes  []int // cluster port of each server
	dirs    []string

	mu      sync.Mutex
	servers []*server.Server // nil while killed
}

// Start starts a cluster, waits until every server accepts clients and
// JetStream has a meta leader, and shuts it down at the end of the test.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Servers == 0 {
		cfg.Servers = 3
	}
	if cfg.Name == "" {
		cfg.Name = "hcfed"
	}
	c := &Cluster{t: t, cfg: cfg, servers: make([]*server.Server, cfg.Servers)}
	base := t.TempDir()
	for i := range cfg.Servers {
		c.clients = append(c.clients, FreePort(t))
		c.routes = append(c.routes, FreePort(t))
		c.dirs = append(c.dirs, filepath.Join(base, c.Name(i)))
	}
	t.Cleanup(c.Shutdown)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Servers)
	for i := range cfg.Servers {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.WaitMetaLeader()
	return c
}

// FreePort is a loopback TCP port free a moment ago (testkit.FreePort).
func FreePort(t testing.TB) int {
	t.Helper()
	return testkit.FreePort(t)
}

// Name is server i's name: n1, n2, ...
func (c *Cluster) Name(i int) string { return "n" + strconv.Itoa(i+1) }

// ClusterName is the cluster's name.
func (c *Cluster) ClusterName() string { return c.cfg.Name }

// Size is the number of servers, running or not.
func (c *Cluster) Size() int { return len(c.clients) }

// ClientURL is server i's client URL, whether it runs or not.
func (c *Cluster) ClientURL(i int) string {
	return "nats://127.0.0.1:" + strconv.Itoa(c.clients[i])
}

// ClientURLs are every server's client URL, as a node's nats.urls.
func (c *Cluster) ClientURLs() []string {
	var urls []string
	for i := range c.clients {
		urls = append(urls, c.ClientURL(i))
	}
	return urls
}

// Server is server i, or nil while it is killed.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

func (c *Cluster) options(i int) *server.Options {
	o := &server.Options{
		ServerName: c.Name(i),
		Host:       "127.0.0.1",
		Port:       c.clients[i],
		JetStream:  true,
		StoreDir:   c.dirs[i],
		NoSigs:     true,
		NoLog:      true,
		Cluster:    server.ClusterOpts{Name: c.cfg.Name, Host: "127.0.0.1", Port: c.routes[i]},
	}
	for j, p := range c.routes {
		if j != i {
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(p)})
		}
	}
	if c.cfg.Configure != nil {
		c.cfg.Configure(i, o)
	}
	return o
}

func (c *Cluster) start(i int) error {
	ns, err := server.NewServer(c.options(i))
	if err != nil {
		return fmt.Errorf("nats server %s: %w", c.Name(i), err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(ReadyTimeout) {
		ns.Shutdown()
		return fmt.Errorf("nats server %s not ready after %s", c.Name(i), ReadyTimeout)
	}
	c.mu.Lock()
	c.servers[i] = ns
	c.mu.Unlock()
	return nil
}

// Kill stops server i abruptly (no lame-duck stepdown) and waits until it
// has stopped. Its store directory and ports are kept for Restart.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	ns := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if ns == nil {
		return
	}
	ns.Shutdown()
	ns.WaitForShutdown()
}

// Restart starts a killed server i again with the same name, ports and
// store directory, and waits until it accepts clients.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		c.t.Fatalf("restart %s: it is running", c.Name(i))
	}
	if err := c.start(i); err != nil {
		c.t.Fatal(err)
	}
}

// Shutdown stops every running server.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Kill(i)
	}
}

// running are the servers up now.
func (c *Cluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var up []*server.Server
	for _, ns := range c.servers {
		if ns != nil {
			up = append(up, ns)
		}
	}
	return up
}

// MetaLeader is the index of the JetStream meta leader among the
// running servers, or -1.
func (c *Cluster) MetaLeader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ns := range c.servers {
		if ns != nil && ns.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// WaitMetaLeader waits until JetStream has a meta leader and every
// running server's view of the meta group is current.
func (c *Cluster) WaitMetaLeader() {
	c.t.Helper()
	testkit.WaitFor(c.t, LeaderTimeout, pollEvery, "a JetStream meta leader", func() error {
		if c.MetaLeader() < 0 {
			return fmt.Errorf("no meta leader among %d running servers", len(c.running()))
		}
		for _, ns := range c.running() {
			if !ns.JetStreamIsCurrent() {
				return fmt.Errorf("%s is not current with the meta group", ns.Name())
			}
		}
		return nil
	})
}

// StreamsCurrent reports nil once every running server holds a current
// replica of each stream in account (GlobalAccount without accounts).
func (c *Cluster) StreamsCurrent(account string, streams ...string) error {
	for _, ns := range c.running() {
		for _, s := range streams {
			if !ns.JetStreamIsStreamCurrent(account, s) {
				return fmt.Errorf("%s: replica of %s not current", ns.Name(), s)
			}
		}
	}
	return nil
}

// WaitStreamsCurrent waits until StreamsCurrent holds.
func (c *Cluster) WaitStreamsCurrent(account string, streams ...string) {
	c.t.Helper()
	testkit.WaitFor(c.t, LeaderTimeout, pollEvery, "stream replicas current", func() error {
		return c.StreamsCurrent(account, streams...)
	})
}

// StreamLeader is the index of the running server leading stream in
// account, or -1.
func (c *Cluster) StreamLeader(account, stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ns := range c.servers {
		if ns != nil && ns.JetStreamIsStreamLeader(account, stream) {
			return i
		}
	}
	return -1
}

// SkipFailoverInShortRun skips a test that kills servers and waits out
// Raft elections and source health checks (tens of seconds) when the run
// is -short: CI's race-detector run is, and the full run covers them.
func SkipFailoverInShortRun(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("server failover takes tens of seconds; run without -short")
	}
}
