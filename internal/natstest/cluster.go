// Package natstest starts a real nats-server cluster with JetStream inside
// a test process: three (or more) servers routed to each other on free
// loopback ports, each with its own store directory, which a test can kill
// and restart on the same ports and store to exercise failover.
package natstest

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
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
	proxies [][]*routeProxy // proxies[i][j] carries server i's route to j
	sink    *sink           // the cluster address every server advertises

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
	if err := c.startProxies(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.closeProxies) // after Shutdown: cleanups run last first
	t.Cleanup(c.Shutdown)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Servers)
	for i := range cfg.Servers {
		wg.Go(func() {
			// A port picked by FreePort can be taken by another test
			// process before the server binds it; a fresh server may
			// then take fresh ports. A restart keeps its ports.
			for range 3 {
				if errs[i] = c.start(i); !errors.Is(errs[i], errPortTaken) {
					return
				}
				c.repick(i)
			}
		})
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
	client, _ := c.ports(i)
	return "nats://127.0.0.1:" + strconv.Itoa(client)
}

// ports are server i's client and route ports (repick may change them
// before its first start).
func (c *Cluster) ports(i int) (client, route int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients[i], c.routes[i]
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
	client, route := c.ports(i)
	o := &server.Options{
		ServerName: c.Name(i),
		Host:       "127.0.0.1",
		Port:       client,
		JetStream:  true,
		StoreDir:   c.dirs[i],
		NoSigs:     true,
		NoLog:      true,
		Cluster: server.ClusterOpts{Name: c.cfg.Name, Host: "127.0.0.1", Port: route,
			Advertise: c.sink.ln.Addr().String()},
	}
	for j := range c.routes {
		if j != i {
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: c.proxies[i][j].addr()})
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
	log := &errorLog{}
	ns.SetLogger(log, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(ReadyTimeout) {
		ns.Shutdown()
		errs := log.String()
		if strings.Contains(errs, "Error listening on") {
			return fmt.Errorf("nats server %s: %w: %s", c.Name(i), errPortTaken, errs)
		}
		return fmt.Errorf("nats server %s not ready after %s (errors logged: %q)", c.Name(i), ReadyTimeout, errs)
	}
	c.mu.Lock()
	c.servers[i] = ns
	c.mu.Unlock()
	return nil
}

// errPortTaken is a start that failed because a port was taken.
var errPortTaken = errors.New("port taken")

// repick gives server i, which never ran, fresh client and route ports.
func (c *Cluster) repick(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clients[i], c.routes[i] = FreePort(c.t), FreePort(c.t)
	for j := range c.proxies {
		if j != i {
			c.proxies[j][i].retarget("127.0.0.1:" + strconv.Itoa(c.routes[i]))
		}
	}
}

// errorLog keeps a server's error lines, for the message of a start that
// failed: the servers run with NoLog.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLog) add(format string, v []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "; ")
}

func (l *errorLog) Errorf(format string, v ...any) { l.add(format, v) }
func (l *errorLog) Fatalf(format string, v ...any) { l.add(format, v) }
func (l *errorLog) Noticef(string, ...any)         {}
func (l *errorLog) Warnf(string, ...any)           {}
func (l *errorLog) Debugf(string, ...any)          {}
func (l *errorLog) Tracef(string, ...any)          {}

// Kill shuts server i down and waits until it has stopped. Its store
// directory and ports are kept for Restart. Like a server stopped with
// SIGTERM or SIGINT (not lame duck mode), it first hands the leadership of
// every Raft group it leads to another server: the others need no
// election. Crash stops it as SIGKILL would.
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

// Crash stops server i as SIGKILL stops a server process: its route
// connections are cut first (the other servers see them close, as when
// the kernel closes a killed process's sockets), so the leadership it
// held is handed to no one and every Raft group it led elects a new
// leader once its followers miss its heartbeats. Then it is shut down
// (its clients reconnect to the others) and waits until it has stopped;
// Restart brings it back on its store.
func (c *Cluster) Crash(i int) {
	c.t.Helper()
	ns := c.Server(i)
	if ns == nil {
		return
	}
	c.cutRoutes(i, true)
	testkit.WaitFor(c.t, LeaderTimeout, pollEvery, c.Name(i)+" cut off from its routes", func() error {
		if n := ns.NumRoutes(); n > 0 {
			return fmt.Errorf("%d routes still up", n)
		}
		return nil
	})
	c.Kill(i)
}

// Restart starts a killed or crashed server i again with the same name,
// ports and store directory, and waits until it accepts clients.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		c.t.Fatalf("restart %s: it is running", c.Name(i))
	}
	c.cutRoutes(i, false)
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

// SkipFailoverInShortRun skips a test that kills servers and waits out
// Raft elections and source health checks (tens of seconds) when the run
// is -short: CI's race-detector run is, and the full run covers them.
func SkipFailoverInShortRun(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("server failover takes tens of seconds; run without -short")
	}
}
