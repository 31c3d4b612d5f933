package federation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConnConfig configures a node's connection to its federation's NATS.
// Credentials are given as file paths or values; none is ever logged.
type ConnConfig struct {
	// URLs of the federation's NATS servers. Required.
	URLs []string
	// Federation is the federation id. Required.
	Federation string
	// Province is who this connection speaks for. When set, the
	// connection refuses to publish or serve under any other province's
	// name, and its inbox prefix defaults to _INBOX_<province> so the
	// server can keep each province's replies private. Empty for an
	// operator or an observer.
	Province string
	// Name is the connection name shown by the server; default
	// hcfed-<province>.
	Name string

	// CredsFile is a NATS .creds file (user JWT and NKey seed).
	CredsFile string
	// NKeySeedFile is a file holding an NKey seed.
	NKeySeedFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// CAFile is a PEM bundle of the CAs trusted for the server's cert.
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile, KeyFile string
	// InboxPrefix overrides the reply inbox prefix (see Province).
	InboxPrefix string

	// MaxStateLen bounds a state value; default DefaultMaxStateLen.
	MaxStateLen int
	// MaxRevocationLen bounds a revocation message; default
	// DefaultMaxRevocationLen.
	MaxRevocationLen int
	// MaxSnapshotLen bounds a revocation snapshot object; default
	// DefaultMaxSnapshotLen.
	MaxSnapshotLen int
	// Replicas is the JetStream replication EnsureStreams asks for;
	// default 1. A production cluster wants 3.
	Replicas int

	// Isolation is "" for the single-account federation (every province
	// in one NATS account, separated by permissions) or
	// IsolationAccounts for a server running the configuration
	// GenerateServerConfig writes: the connection then writes its own
	// account's assets and reads the aggregates (accounts.go).
	Isolation string
	// Members are the federation's provinces. In accounts mode
	// EnsureStreams sources the aggregates from each; ignored otherwise.
	Members []string

	// Logger receives connection events; nil discards them.
	Logger *slog.Logger

	// OnePass makes Connect try each server once and fail at once when
	// none can be reached, rather than retry until its context ends: for
	// a check that reports what it found (hcnode check), never for a
	// node, which keeps trying.
	OnePass bool

	// ServicesConn gives the services (ServeLookups, ServeReceipts,
	// ServeSnapshotRequests, Serve) and the requests to other nodes
	// (RequestLookup, RequestErasure, PublishReceipts, Request,
	// RequestSnapshot) a NATS connection of their own, named
	// <Name>-services, beside the sync's (JetStream: the revocation
	// consumer, the state watchers, publishing), named <Name>-sync. Any
	// member can send to the services' subjects (and, under permissions
	// without allow_responses, to the reply inbox of the requests); a
	// flood faster than the link fills the server's max_pending for that
	// connection (ServerMaxPending) and the server cuts it, which then
	// leaves the sync running. A node sets it; a tool that only publishes
	// does not. The service replies go out on the connection that received
	// the requests, as the shipped configuration's allow_responses wants.
	ServicesConn bool
}

// Conn is a node's connection to its federation: core NATS plus
// JetStream, reconnecting forever with backoff. It is safe for concurrent
// use. Close it to stop every goroutine it started.
type Conn struct {
	// nc carries the sync: JetStream, whose replies no other member
	// sees. svc carries the services and the requests to other nodes,
	// whose subjects and reply inboxes any member can send to: nc itself
	// unless ConnConfig.ServicesConn.
	nc         *nats.Conn
	svc        *nats.Conn
	js         jetstream.JetStream
	fed        string
	province   string
	bucket     string
	stream     string
	snapBucket string
	maxState   int
	maxRev     int
	maxSnap    int
	replicas   int
	// pullBytes is a revocation consumer's pull budget, consumerMaxBytes;
	// tests lower it before consuming, to cross pulls with few messages.
	pullBytes int
	inbox     string     // reply inbox prefix, without the final dot
	iso       *isolation // nil in the single-account mode
	log       *slog.Logger

	life   context.Context // cancelled by Close
	stop   context.CancelFunc
	wg     sync.WaitGroup
	active atomic.Int64 // goroutines running, for tests
	closed atomic.Bool
	// ncClosed and svcClosed are closed once nats.go has run the closed
	// handler (which logs "nats connection closed") of nc and of svc.
	ncClosed, svcClosed chan struct{}

	mu        sync.Mutex
	kv        jetstream.KeyValue    // nil until first needed
	obs       jetstream.ObjectStore // nil until first needed
	ownKV     jetstream.KeyValue    // accounts mode: nil until first needed
	ownObs    jetstream.ObjectStore // accounts mode: nil until first needed
	reconnect chan struct{}         // closed and replaced on each reconnection

	deniedMu sync.Mutex
	denied   map[*denialWaiter]struct{}

	stats    counters
	services serviceSubs // drops of the service subscriptions (services.go)
}

// Connect connects to the federation's NATS and waits until connected,
// retrying with backoff until ctx is done. A refused authentication ends
// the wait at once (nats.go gives up after the second refusal by the same
// server). A failure is a *ConnectError wrapping ErrUnreachable or
// ErrAuthFailed. Once connected, the connection reconnects forever.
func Connect(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("nats connect: no server URLs")
	}
	if err := ValidateFederation(cfg.Federation); err != nil {
		return nil, err
	}
	if cfg.Province != "" {
		if err := ValidateProvince(cfg.Province); err != nil {
			return nil, err
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats", "fed", cfg.Federation)
	if cfg.Province != "" {
		log = log.With("province", cfg.Province)
	}
	life, stop := context.WithCancel(context.Background())
	var err error
	c := &Conn{
		fed:        cfg.Federation,
		province:   cfg.Province,
		bucket:     bucketName(cfg.Federation),
		stream:     streamName(cfg.Federation),
		snapBucket: snapshotBucketName(cfg.Federation),
		maxState:   orDefault(cfg.MaxStateLen, DefaultMaxStateLen),
		maxRev:     orDefault(cfg.MaxRevocationLen, DefaultMaxRevocationLen),
		maxSnap:    orDefault(cfg.MaxSnapshotLen, DefaultMaxSnapshotLen),
		replicas:   orDefault(cfg.Replicas, 1),
		pullBytes:  consumerMaxBytes,
		log:        log,
		life:       life,
		stop:       stop,
		denied:     map[*denialWaiter]struct{}{},
		reconnect:  make(chan struct{}),
	}
	if c.iso, err = newIsolation(cfg); err != nil {
		stop()
		return nil, err
	}
	nc, closed, err := c.dial(ctx, cfg, linkSync)
	if err != nil {
		stop()
		return nil, err
	}
	c.nc, c.ncClosed, c.svc, c.svcClosed = nc, closed, nc, closed
	if cfg.ServicesConn {
		// The first dial was the sync's: it is named so, and logs so.
		svc, svcClosed, err := c.dial(ctx, cfg, linkServices)
		if err != nil {
			closeNC(nc, closed)
			stop()
			return nil, err
		}
		c.svc, c.svcClosed = svc, svcClosed
	}
	js, err := jetstream.New(nc)
	if err != nil {
		c.closeConns()
		stop()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.js = js
	return c, nil
}

// link says which of a Conn's NATS connections a dial makes.
type link int

const (
	// linkSync is the sync's connection, which carries the services too
	// unless ConnConfig.ServicesConn gives them their own.
	linkSync link = iota
	// linkServices is the services' own connection.
	linkServices
)

// dial connects one of c's NATS connections for cfg and waits until it
// is up, as Connect says. closed is closed once nats.go has run the
// connection's closed handler.
func (c *Conn) dial(ctx context.Context, cfg ConnConfig, which link) (nc *nats.Conn, closed chan struct{}, err error) {
	connected := make(chan struct{}, 1)
	closed = make(chan struct{})
	opts, err := c.options(cfg, which, connected, closed)
	if err != nil {
		return nil, nil, err
	}
	dialTimeout := nats.DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		// nats.go dials and greets each server for up to its Timeout,
		// holding a lock Close waits for: keep a pass over every server
		// within the caller's deadline.
		per := time.Until(dl) / time.Duration(len(cfg.URLs))
		dialTimeout = max(min(per, nats.DefaultTimeout), minDialTimeout)
		opts = append(opts, nats.Timeout(dialTimeout))
	}
	var dialErr lastError
	opts = append(opts, nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { dialErr.set(err) }))
	if cfg.OnePass {
		// nats.go's first pass over the servers reports a refused dial
		// only as "no servers available": keep the dial's own error.
		opts = append(opts, nats.RetryOnFailedConnect(false), nats.SetCustomDialer(&recordingDialer{last: &dialErr, timeout: dialTimeout}))
	}
	nc, err = nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		if cfg.OnePass {
			return nil, nil, connectError(cfg, cmp.Or(dialErr.get(), err), nil)
		}
		return nil, nil, fmt.Errorf("nats connect: %w", err)
	}
	if !nc.IsConnected() {
		select {
		case <-connected:
		case <-closed:
			return nil, nil, connectError(cfg, cmp.Or(nc.LastError(), dialErr.get()), ctx.Err())
		case <-ctx.Done():
			last := cmp.Or(nc.LastError(), dialErr.get())
			closeNC(nc, closed)
			return nil, nil, connectError(cfg, last, ctx.Err())
		}
	}
	if cfg.Province != "" {
		if err := probeInbox(nc, c.inbox, dialTimeout); err != nil {
			closeNC(nc, closed)
			e := connectError(cfg, err, nil)
			e.Kind, e.Province, e.Inbox = ErrForeignCredentials, cfg.Province, c.inbox
			return nil, nil, e
		}
	}
	c.linkLog(cfg, which).Info("nats connected", "url", nc.ConnectedUrlRedacted())
	return nc, closed, nil
}

// linkLog is c's logger for the connection which: it names the
// connection ("sync" or "services") when there are two.
func (c *Conn) linkLog(cfg ConnConfig, which link) *slog.Logger {
	switch {
	case which == linkServices:
		return c.log.With("conn", "services")
	case cfg.ServicesConn:
		return c.log.With("conn", "sync")
	}
	return c.log
}

// options builds the nats.go options of c's connection which for cfg.
// connected is signalled on the first connection, closed is closed when
// the connection closes.
func (c *Conn) options(cfg ConnConfig, which link, connected chan<- struct{}, closed chan<- struct{}) ([]nats.Option, error) {
	name := cfg.Name
	if name == "" {
		name = "hcfed"
		if cfg.Province != "" {
			name += "-" + cfg.Province
		}
	}
	switch {
	case which == linkServices:
		name += "-services"
	case cfg.ServicesConn:
		name += "-sync"
	}
	log := c.linkLog(cfg, which)
	disconnects, reconnects := &c.stats.disconnects, &c.stats.reconnects
	if which == linkServices {
		disconnects, reconnects = &c.stats.svcDisconnects, &c.stats.svcReconnects
	}
	inbox := cfg.InboxPrefix
	if inbox == "" && cfg.Province != "" {
		inbox = "_INBOX_" + cfg.Province
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.ConnectHandler(func(*nats.Conn) {
			select {
			case connected <- struct{}{}:
			default:
			}
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			disconnects.Add(1)
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			reconnects.Add(1)
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
			if which == linkServices {
				return // nats.go subscribes the services again; the sync goes on
			}
			c.mu.Lock()
			close(c.reconnect)
			c.reconnect = make(chan struct{})
			c.mu.Unlock()
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); IsAuthError(err) {
				log.Error("nats connection closed: the server refused this connection's credentials", "err", err)
			} else {
				log.Info("nats connection closed")
			}
			close(closed)
		}),
		nats.ErrorHandler(c.asyncError),
	}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	c.inbox = cmp.Or(inbox, nats.InboxPrefix[:len(nats.InboxPrefix)-1])
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	return opts, nil
}

// inboxProbe begins the subject probeInbox subscribes to, under the
// connection's reply inbox.
const inboxProbe = "hcfed_probe"

// probeInbox subscribes to a subject of the reply inbox prefix inbox and
// waits up to d for the server to take it: every user of a province (the
// shipped configuration's and nats-config's: node, admin, verifier) may
// subscribe to its own _INBOX_<province>.> only, so a refusal means the
// connection's credentials are another province's (or another
// federation's). It returns the server's refusal, or nil: also when the
// server did not answer within d, which the connection's first request
// will find out.
func probeInbox(nc *nats.Conn, inbox string, d time.Duration) error {
	subject := inbox + "." + inboxProbe + "." + nats.NewInbox()[len(nats.InboxPrefix):]
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return nil
	}
	defer sub.Unsubscribe()
	// The server answers the subscription (its -ERR) before the flush's
	// PONG, and nats.go keeps the -ERR as the last error before it reads
	// the PONG.
	if nc.FlushTimeout(d) != nil {
		return nil
	}
	if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
		if m := subDenied.FindStringSubmatch(err.Error()); m != nil && m[1] == subject {
			return err
		}
	}
	return nil
}

// reconnectDelay is the wait before nats.go's next pass over the server
// list: reconnectBackoff, so that every node of a federation does not
// reconnect in the same instant after a server restart. nats.go counts
// passes from 1.
func reconnectDelay(attempts int) time.Duration {
	return reconnectBackoff.Delay(attempts - 1)
}

// Close stops every watcher and consumer started on c, waits for them,
// and closes the connection. It is safe to call more than once. It
// returns within about 2 × closeWait whatever the server does: a
// goroutine stuck in a nats.go call past closeWait is cut off by closing
// the connection under it, and one that outlives that too is left behind
// (and logged) rather than holding up shutdown.
func (c *Conn) Close() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.stop()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	if !waitClosed(done, closeWait) {
		c.log.Warn("nats goroutines still running at close; closing the connection under them", "running", c.active.Load())
	}
	c.svc.Close()
	c.nc.Close()
	if !waitClosed(done, closeWait) {
		c.log.Error("nats goroutines did not stop; giving up on them", "running", c.active.Load())
	}
	c.waitConnsClosed()
}

// closeConns closes c's connections and waits for their closed handlers.
func (c *Conn) closeConns() {
	c.svc.Close()
	c.nc.Close()
	c.waitConnsClosed()
}

// waitConnsClosed waits (up to closeWait each) for the closed handlers
// of c's connections.
func (c *Conn) waitConnsClosed() {
	for _, ch := range []chan struct{}{c.svcClosed, c.ncClosed} {
		if ch != nil {
			waitClosed(ch, closeWait)
		}
	}
}

// closeNC closes nc and waits (up to closeWait) for its closed handler,
// which closes closed. nats.go runs that handler on its own goroutine
// after Close returns: waiting puts its log line ("nats connection
// closed") before whatever the caller logs next ("stopped cleanly").
func closeNC(nc *nats.Conn, closed <-chan struct{}) {
	nc.Close()
	waitClosed(closed, closeWait)
}

// waitClosed waits for done up to d, and reports whether it closed.
func waitClosed(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Province is the province this connection speaks for, or "".
func (c *Conn) Province() string { return c.province }

// Federation is the federation id.
func (c *Conn) Federation() string { return c.fed }

// Server is the URL of the server the connection is on, password
// redacted, for messages.
func (c *Conn) Server() string { return c.nc.ConnectedUrlRedacted() }

// Connected reports whether the connection is up right now: the sync's,
// when the services have their own (ConnConfig.ServicesConn).
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// separateServices reports whether the services have a connection of
// their own.
func (c *Conn) separateServices() bool { return c.svc != c.nc }

// epoch numbers the connection's life since its last reconnection, and
// reports whether the connection is up: a value that changes whenever
// the connection comes back, so that what was current over one
// connection is not taken as current over the next. nats.go counts a
// reconnection before it reports the connection up, and epoch reads the
// state first, so an epoch reported with ok is never older than the
// connection that was up.
func (c *Conn) epoch() (uint64, bool) {
	if !c.nc.IsConnected() {
		return 0, false
	}
	return c.nc.Stats().Reconnects, true
}

// nextReconnect returns a channel closed at the next reconnection.
func (c *Conn) nextReconnect() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnect
}

// mayPublish refuses to publish or serve t for another province.
func (c *Conn) mayPublish(t Topic) error {
	if c.province == "" || t.Province == c.province {
		return nil
	}
	if t.Kind == KindTrustList {
		return fmt.Errorf("%w: the trust list is published by the federation operators", ErrForeignProvince)
	}
	return fmt.Errorf("%w: %s is not %s's", ErrForeignProvince, t, c.province)
}

// run starts fn on a goroutine owned by c. ctx is cancelled when the
// caller's context is, or when c is closed.
func (c *Conn) run(ctx context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(c.life, cancel)
	c.wg.Add(1)
	c.active.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.active.Add(-1)
		defer stopAfter()
		defer cancel()
		fn(ctx)
	}()
}

// safely calls fn, turning a panic into an error so that one bad
// statement or handler bug cannot stop a watcher or kill the node.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return fn()
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
