package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
	"github.com/prometheus/client_golang/prometheus"
)

// fed is a node's federation runtime: an embedded NATS server if
// configured, the connection, the inbound Sync and the outbound Link.
// The connection is made in the background, so a node whose NATS is down
// starts anyway and verifies from its cache.
type fed struct {
	cfg     config.Config
	n       *node.Node
	log     *slog.Logger
	syncLog *slog.Logger // without "province": sync and the NATS connection add their own
	now     func() time.Time
	pinned  []byte
	jsGrace time.Duration // see Options.JetStreamGrace
	// republish is Options.Republish.
	republish time.Duration
	// erasureRetry and erasureAckTimeout are Options'.
	erasureRetry      backoff.Policy
	erasureAckTimeout time.Duration

	server  *federation.Server
	conn    atomic.Pointer[federation.Conn]
	cluster atomic.Pointer[clusterSeen] // the NATS cluster as last read
	sync    atomic.Pointer[federation.Sync]
	// restored is the Sync that restored the cache at start: until sync
	// exists (NATS not reached yet), GET /v1/federation is its view, so
	// that a node started while cut off says what it holds and warns.
	restored atomic.Pointer[federation.Sync]
	link     atomic.Pointer[node.Link]
	wg       sync.WaitGroup

	expiryMu sync.Mutex
	warned   expiryWarned // the last trust-list expiry warning logged
	// suspendedAt is the trust-list version that suspends this province
	// last logged (see checkSelfSuspended); 0 while not suspended.
	suspendedAt uint64
}

// embeddedStoreDir is where the embedded NATS server keeps its JetStream
// store, in the data directory: with it, the revocations the node
// published, which a restore takes back from the federation.
func embeddedStoreDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "nats") }

// EmbeddedNATSLost says what a data directory of a node with an embedded
// NATS server lacks of it, or "" if nothing: the JetStream store (nats/),
// when used says the node should have one (it published revocations, or
// the directory is a new one), and, in accounts mode, the configuration
// and seeds (nats-accounts/) that 'hcnode init' wrote. 'hcnode restore'
// says so before it replaces anything, for a node restored into a
// directory of its own.
func EmbeddedNATSLost(cfg config.Config, used bool) string {
	if !cfg.NATS.Embedded {
		return ""
	}
	var lost []string
	if _, err := os.Stat(embeddedStoreDir(cfg)); used && errors.Is(err, fs.ErrNotExist) {
		lost = append(lost, embeddedStoreDir(cfg))
	}
	if cfg.NATS.ServerConf != "" {
		if _, err := os.Stat(cfg.NATS.ServerConf); errors.Is(err, fs.ErrNotExist) {
			lost = append(lost, filepath.Dir(cfg.NATS.ServerConf))
		}
	}
	return strings.Join(lost, " and ")
}

// checkEmbeddedNATS reads the embedded NATS server's configuration and
// the node's seed as a start uses them, before anything starts: a node
// moved or restored into another data directory without its
// nats-accounts would otherwise stop in nats-server's words after its
// database was opened. Each refusal names its setting.
func checkEmbeddedNATS(cfg config.Config) error {
	if !cfg.NATS.Embedded {
		return nil
	}
	for _, f := range []struct{ setting, path string }{
		{"nats.server_config", cfg.NATS.ServerConf}, {"nats.nkey_seed_file", cfg.NATS.NKeySeed}} {
		if f.path == "" {
			continue
		}
		_, err := os.Stat(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s: %s is missing: it is the embedded NATS server's, which 'hcnode init' wrote into "+
				"the data directory (%s: its accounts and NKey seeds, 0600). A node moved or restored into another "+
				"directory needs it copied from its former data directory, with nats/ beside it (the embedded server's "+
				"store, which holds the revocations a restore takes back; if both are lost: README, \"Restore drill\"); "+
				"or correct %s", f.setting, f.path,
				filepath.Dir(f.path), f.setting)
		case err != nil:
			return fmt.Errorf("%s: %w", f.setting, err)
		}
	}
	if err := federation.CheckServerConfig(cfg.NATS.ServerConf); err != nil {
		return fmt.Errorf("nats.server_config: %w", err)
	}
	return nil
}

// openEmbeddedNATS is what 'hcnode check' and a start say of an embedded
// NATS server run without a configuration (a config of an earlier
// 'hcnode init'): it has no accounts and no users.
const openEmbeddedNATS = "without nats.server_config: it takes any client that reaches it, with no credentials, " +
	"and such a client may read, write and delete the federation's streams on it; a config written by 'hcnode init' " +
	"of this version runs it with one account per province and NKey users only (nats.server_config, " +
	"nats.nkey_seed_file, nats.isolation: accounts)"

// startEmbedded starts the in-process NATS server when nats.embedded is set.
func startEmbedded(cfg config.Config, log *slog.Logger) (*federation.Server, error) {
	if cfg.NATS.ServerConf == "" {
		log.Warn("the embedded NATS server runs "+openEmbeddedNATS, "nats_listen", cfg.NATS.Listen)
	}
	host, portStr, err := net.SplitHostPort(cfg.NATS.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats.listen: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats.listen: %w", err)
	}
	if port == 0 {
		port = -1 // nats-server: random free port
	}
	return federation.StartServer(federation.ServerConfig{Host: host, Port: port, StoreDir: embeddedStoreDir(cfg),
		Name: "hcnode-" + cfg.Province, ConfigFile: cfg.NATS.ServerConf, Logger: log})
}

func (f *fed) urls() []string {
	if f.server != nil {
		return []string{f.server.ClientURL()}
	}
	return f.cfg.NATS.URLs
}

// restore re-applies the statements cached in the database, before any
// network I/O.
func (f *fed) restore(ctx context.Context) error {
	s, err := federation.NewSync(f.syncConfig(nil))
	if err != nil {
		return err
	}
	if err := s.Restore(ctx); err != nil {
		return err
	}
	f.restored.Store(s)
	return nil
}

func (f *fed) syncConfig(conn *federation.Conn) federation.SyncConfig {
	m := f.n.Metrics()
	return federation.SyncConfig{Conn: conn, State: f.n.State(), Self: f.cfg.Province, Cache: f.n.StatementCache(),
		Now: f.now, Logger: f.syncLog, PinnedTrustList: f.pinned,
		OnStatement: func(kind, reason string) {
			m.Statements.WithLabelValues(kind, reason).Inc()
			if kind == string(federation.KindTrustList) && reason == string(trust.ReasonOK) {
				f.checkTrustExpiry()
				f.checkSelfSuspended()
				f.n.TrustListApplied()
			}
		}}
}

// run connects (retrying until ctx ends), then runs Sync, the Link, the
// snapshot-request server and the cross-province lookup and receipt
// service until ctx ends.
func (f *fed) run(ctx context.Context) {
	f.wg.Go(func() { f.watchTrustExpiry(ctx) })
	defer f.wg.Wait()
	conn := f.connect(ctx)
	if conn == nil {
		return
	}
	defer conn.Close()
	for attempt := 0; ; attempt++ {
		err := conn.EnsureStreams(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		d := streamsBackoff.Delay(attempt)
		if errors.Is(err, federation.ErrPermissionDenied) {
			f.log.Error("federation streams missing or different, and this node's NATS user may not set them up: the federation operator must (trust publish does); retrying",
				"err", err, "retry_in", d.String())
		} else {
			f.log.Warn("federation streams not ready; retrying", "err", err, "retry_in", d.String())
		}
		if !backoff.Wait(ctx, d) {
			return
		}
	}
	link := node.NewLink(f.n, conn, f.log)
	if f.republish > 0 {
		link.Republish = f.republish
	}
	peers := f.newPeers(conn)
	sc := f.syncConfig(conn)
	sc.OnPeerKeyset = link.PeerKeyset
	sc.OnPeerHeartbeat = peers.PeerHeartbeat
	s, err := federation.NewSync(sc)
	if err != nil {
		f.log.Error("federation sync", "err", err)
		return
	}
	f.conn.Store(conn)
	f.sync.Store(s)
	f.link.Store(link)
	var wg sync.WaitGroup
	wg.Add(6)
	go func() { defer wg.Done(); link.Run(ctx) }()
	go func() { defer wg.Done(); f.watchCluster(ctx, conn) }()
	go func() { defer wg.Done(); conn.WatchSources(ctx, federation.SourceWatch{Now: f.now}) }() // accounts mode only
	go func() {
		defer wg.Done()
		if err := peers.Run(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("cross-province lookups and receipts", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			f.log.Error("federation sync stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := conn.ServeSnapshotRequests(ctx, link.SnapshotRequested); err != nil && ctx.Err() == nil {
			f.log.Error("snapshot requests", "err", err)
		}
	}()
	wg.Wait()
}

// newPeers prepares the node's province-to-province service over conn,
// with the erasure options given.
func (f *fed) newPeers(conn *federation.Conn) *node.Peers {
	peers := node.NewPeers(f.n, conn, f.log)
	if r := f.erasureRetry; r.Max > 0 {
		peers.ErasureRetry = backoff.Policy{Min: cmp.Or(r.Min, min(peers.ErasureRetry.Min, r.Max)), Max: r.Max}
	}
	if d := f.erasureAckTimeout; d > 0 {
		peers.ErasureAckTimeout = d
	}
	return peers
}

// Connecting to the federation: each attempt is bounded by
// connectAttempt (within it nats.go retries on its own backoff), and
// attempts are spaced by connectBackoff; EnsureStreams is retried on
// streamsBackoff.
const connectAttempt = 5 * time.Second

var (
	connectBackoff = backoff.Policy{Min: 250 * time.Millisecond, Max: 10 * time.Second}
	streamsBackoff = backoff.Policy{Min: time.Second, Max: 15 * time.Second}
)

// connect connects to the federation's NATS, retrying until ctx ends
// (then it returns nil). Each failure is logged as what it is: a server
// that refuses this node's credentials is an error an operator must fix
// (nats.user and nats.password, or the creds file), an unreachable one a
// warning while the node verifies from its cache.
func (f *fed) connect(ctx context.Context) *federation.Conn {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, connectAttempt)
		c, err := federation.Connect(cctx, connConfig(f.cfg, f.urls(), f.syncLog)) // the connection adds "province" itself
		cancel()
		if err == nil {
			return c
		}
		if ctx.Err() != nil {
			return nil
		}
		d := connectBackoff.Delay(attempt)
		switch {
		case errors.Is(err, federation.ErrForeignCredentials):
			f.log.Error("NATS took this node's credentials as another province's user (check nats.nkey_seed_file, nats.creds_file "+
				"or nats.user: they must be this province's); verifying from cache and retrying", "err", err, "retry_in", d.String())
		case federation.IsAuthError(err):
			f.log.Error("NATS refused this node's credentials (check nats.user and nats.password, or the creds file); verifying from cache and retrying",
				"err", err, "retry_in", d.String())
		default:
			f.log.Warn("NATS not reachable; verifying from cache and retrying", "err", err, "retry_in", d.String())
		}
		if !backoff.Wait(ctx, d) {
			return nil
		}
	}
}

// connConfig is how the node connects to the NATS servers at urls, with
// the credentials and TLS settings of cfg: two connections, so that a
// flood at its services that gets their connection cut leaves the sync
// running (federation/services.go).
func connConfig(cfg config.Config, urls []string, log *slog.Logger) federation.ConnConfig {
	return federation.ConnConfig{URLs: urls, Federation: cfg.Federation, Province: cfg.Province,
		Name: "hcnode-" + cfg.Province, ServicesConn: true, CredsFile: cfg.NATS.CredsFile, NKeySeedFile: cfg.NATS.NKeySeed,
		User: cfg.NATS.User, Password: cfg.NATS.Password, CAFile: cfg.NATS.CAFile, CertFile: cfg.NATS.CertFile,
		KeyFile: cfg.NATS.KeyFile, Replicas: cfg.NATS.Replicas, Isolation: cfg.NATS.Isolation, Logger: log}
}

// ready is the API's readiness check: connected, caught up, and the
// revocation outbox flowing. A node not caught up while the revocation
// stream is unavailable says so: that is what keeps it from catching up,
// at its first connection (it lost the quorum before its first catch-up
// was done) as after an outage.
func (f *fed) ready(ctx context.Context) error {
	s := f.sync.Load()
	if s == nil {
		return notConnected
	}
	if err := s.Ready(); err != nil {
		catchingUp := errors.Is(err, federation.ErrCatchingUp) || errors.Is(err, federation.ErrInitialCatchUp)
		if js := f.jetStreamProblem(); js != nil && catchingUp {
			return js
		}
		return federationNotReady(err)
	}
	if err := f.jetStreamProblem(); err != nil {
		return err
	}
	if l := f.link.Load(); l != nil {
		return l.Ready(ctx)
	}
	return nil
}

// notConnected is /readyz's answer before the federation is reached.
var notConnected = &node.NotReady{Check: node.ReadyFederation, Message: "not connected to the federation yet"}

// federationNotReady is /readyz's answer for err, from Sync.Ready: its
// errors are fixed sentences, without addresses.
func federationNotReady(err error) error {
	return &node.NotReady{Check: node.ReadyFederation, Message: err.Error()}
}

// view answers GET /v1/federation.
func (f *fed) view() any {
	s := f.sync.Load()
	if s == nil {
		s = f.restored.Load()
	}
	if s != nil {
		v := federationView{FederationView: s.View()}
		if info, ok := f.clusterInfo(); ok {
			v.NATS = &info
			v.AddWarnings(clusterWarnings(info)...)
		}
		return v
	}
	return f.n.FederationView()
}

// trustList answers GET /.well-known/hcfed/trustlist.
func (f *fed) trustList() []byte {
	if tl := f.n.State().TrustList(); tl != nil {
		return tl.Raw
	}
	return nil
}

func (f *fed) close() {
	if f.server != nil {
		f.server.Shutdown()
	}
}

// trustWatchEvery is how often the held trust list's remaining life is
// measured again; trustWarnRepeat is how often a warning already logged
// for the same list is repeated.
const (
	trustWatchEvery = 2 * time.Second
	trustWarnRepeat = time.Hour
)

// expiryWarned is the last expiry warning logged: for which version, how
// bad (1 expires soon, 2 expired) and when.
type expiryWarned struct {
	version uint64
	level   int
	at      time.Time
}

// watchTrustExpiry keeps hcfed_trustlist_expires_in_seconds current and
// warns while the trust list held nears its expiry, until ctx ends. It
// runs whether or not NATS is reachable: a federation whose trust list
// expires unnoticed goes dark, every verification answering trust_stale.
func (f *fed) watchTrustExpiry(ctx context.Context) {
	t := time.NewTicker(trustWatchEvery)
	defer t.Stop()
	for {
		f.checkTrustExpiry()
		f.checkSelfSuspended()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkTrustExpiry measures the trust list held once: the gauge, and a
// warning (within federation.DefaultExpiryWarning, the window in which
// GET /v1/federation warns too) or an error (expired) when the level or
// version changed or trustWarnRepeat passed since the last one.
func (f *fed) checkTrustExpiry() {
	tl := f.n.State().TrustList()
	if tl == nil {
		return
	}
	now := f.now()
	left := tl.ExpiresAt().Sub(now)
	f.n.Metrics().TrustExpiresIn.WithLabelValues().Set(left.Seconds())
	level := 0
	if left <= 0 {
		level = 2
	} else if left < federation.DefaultExpiryWarning {
		level = 1
	}
	f.expiryMu.Lock()
	defer f.expiryMu.Unlock()
	if level == 0 {
		f.warned = expiryWarned{}
		return
	}
	if w := f.warned; w.version == tl.Version && w.level == level && now.Sub(w.at) < trustWarnRepeat {
		return
	}
	f.warned = expiryWarned{version: tl.Version, level: level, at: now}
	exp := tl.ExpiresAt().UTC().Format(time.RFC3339)
	if level == 2 {
		f.log.Error("trust list expired: verification answers trust_stale until the operators publish a new version",
			"kind", string(federation.KindTrustList), "version", tl.Version, "expires", exp)
		return
	}
	f.log.Warn("trust list expires soon: the federation operators must sign and publish a new version",
		"kind", string(federation.KindTrustList), "version", tl.Version, "expires", exp, "expires_in", left.Round(time.Second).String())
}

// registerCacheMetrics exports the federation cache's write failures and
// backlog (statements applied but not yet written) from the running Sync.
func (f *fed) registerCacheMetrics(r *prometheus.Registry) {
	stat := func(backlog bool) func() float64 {
		return func() float64 {
			s := f.sync.Load()
			if s == nil {
				return 0
			}
			failures, n := s.CacheHealth()
			if backlog {
				return float64(n)
			}
			return float64(failures)
		}
	}
	r.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcfed_federation_cache_write_failures_total",
			Help: "Failed writes of applied federation statements to the database (retried; the cursor is held)."},
			stat(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_federation_cache_backlog",
			Help: "Applied federation statements not yet written to the database."},
			stat(true)))
}
