// Package daemon assembles a running node from its configuration: the
// database, the KEK, the node, its HTTP server and, when configured, the
// federation. cmd/hcnode, the demo and multi-node tests all start nodes
// through it, so they run exactly what production runs.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/api"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// DefaultAdmin is the name of the first admin account Init makes.
const DefaultAdmin = "admin"

// Init prepares a new province's data directory: a KEK file (unless
// $HCNODE_KEK is set), the metrics token when metrics_token_file names a
// file that is not there, the database with fresh keys, and the first admin
// account, named DefaultAdmin, with a token, which it returns (shown
// once, stored hashed).
func Init(ctx context.Context, cfg config.Config) (operatorToken string, err error) {
	return InitAdmin(ctx, cfg, DefaultAdmin)
}

// InitAdmin is Init with the first admin account named admin.
func InitAdmin(ctx context.Context, cfg config.Config, admin string) (operatorToken string, err error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if cfg.IsVerifier() {
		return "", errors.New("init: a verifier replica is not initialised: register it at its home node with 'hcnode replica add' and serve it")
	}
	if err := node.CheckAccountName(admin); err != nil {
		return "", fmt.Errorf("admin account: %w", err)
	}
	lock, err := datadir.Acquire(cfg.DataDir, "init")
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	defer lock.Unlock()
	if os.Getenv(seal.EnvKEK) == "" {
		if _, err := os.Stat(cfg.KEKPath()); errors.Is(err, os.ErrNotExist) {
			if err := seal.WriteKEKFile(cfg.KEKPath()); err != nil {
				return "", err
			}
		}
	}
	kek, err := seal.LoadKEK(cfg.KEKPath())
	if err != nil {
		return "", err
	}
	if p := cfg.MetricsTokenPath(); p != "" {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := config.WriteMetricsToken(p); err != nil {
				return "", err
			}
		}
	}
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return "", err
	}
	defer db.Close()
	now := time.Now()
	if err := node.InitKeys(ctx, db, kek, cfg.Province, cfg.Keys.Rotation, cfg.Keys.ContentEpoch, now); err != nil {
		return "", err
	}
	n, err := node.New(ctx, node.Config{DB: db, KEK: kek, Settings: cfg})
	if err != nil {
		return "", err
	}
	defer n.Close()
	root, err := node.RootPublicJWK(ctx, db, kek)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(RootJWKPath(cfg), append(root, '\n'), 0o644); err != nil {
		return "", err
	}
	tok, err := n.BootstrapAdmin(ctx, admin, "init")
	return tok.Token, err
}

// RootJWKPath is where Init writes the province root public key, for the
// federation operators (hcnode trust propose --add-member ID:NAME:FILE).
func RootJWKPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "root.pub.jwk") }

// Options adjust a started node.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Listener serves HTTP; nil listens on cfg.Listen.
	Listener net.Listener
	// TickEvery is how often key maintenance runs; default 1 minute.
	TickEvery time.Duration
	// TLSCheckEvery is how often the TLS certificate files are checked
	// for a change; default 10 seconds. SIGHUP (ReloadTLS) checks at once.
	TLSCheckEvery time.Duration
	// ShutdownTimeout bounds how long Close waits for running HTTP
	// requests; default api.DefaultShutdownTimeout. Close as a whole
	// returns within it plus closeGrace.
	ShutdownTimeout time.Duration
	// JetStreamGrace is how long the revocation stream may be unavailable
	// (no leader with a quorum) before the node reports itself not ready;
	// default jetStreamDownAfter.
	JetStreamGrace time.Duration
	// Republish is how often the node publishes its keyset, grants,
	// heartbeat and snapshot again without a change; default
	// node.Link's.
	Republish time.Duration
	// ErasureRetry spaces the attempts at an erasure a province did not
	// acknowledge. A zero Max keeps node.Peers's policy; a zero Min takes
	// its Min, or Max if that is smaller.
	ErasureRetry backoff.Policy
	// ErasureAckTimeout bounds the wait for one erasure's
	// acknowledgement; default node.Peers's.
	ErasureAckTimeout time.Duration
}

// closeGrace is how long Close waits, beyond the HTTP shutdown timeout,
// for the node's other work (federation connection, maintenance) to stop
// before it closes the node and the database anyway.
const closeGrace = 5 * time.Second

// Daemon is a running node.
type Daemon struct {
	Node *node.Node
	DB   *store.DB
	API  *api.Server
	URL  string
	// MetricsURL is the node's metrics page: on metrics_listen, or URL's
	// /metrics (which asks for the metrics token) when metrics_token_file
	// is set instead; "" with neither.
	MetricsURL string

	fed    *fed
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lock   *datadir.Lock     // held from Start until Close
	certs  *api.CertReloader // nil when serving plain HTTP
	bound  time.Duration     // how long Close waits for wg
	errMu  sync.Mutex
	err    error
}

// Start opens the node described by cfg and serves it until Close. The
// federation connection is made in the background: a node whose NATS is
// unreachable starts and verifies with the statements it cached.
func Start(ctx context.Context, cfg config.Config, opt Options) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IsVerifier() {
		return nil, errors.New("start: role verifier runs with StartVerifier, never on a node database")
	}
	if err := datadir.RequireNode(cfg.DataDir, cfg.DBPath()); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	var cleanup undo
	defer func() {
		if err != nil {
			cleanup.run()
		}
	}()
	// The HTTP listener is bound before anything else starts (the embedded
	// NATS server, migrations, key generation), so a port in use is refused
	// with nothing to undo.
	mtoken, err := metricsToken(cfg)
	if err != nil {
		return nil, err
	}
	lock, l, scheme, certs, ml, err := bindFirst(cfg, opt, &cleanup)
	if err != nil {
		return nil, err
	}
	base, err := linkBase(cfg, scheme, l, log)
	if err != nil {
		return nil, err
	}
	if err := probeNATSListen(cfg); err != nil {
		return nil, err
	}
	if err := checkEmbeddedNATS(cfg); err != nil {
		return nil, err
	}
	kek, err := seal.LoadKEK(cfg.KEKPath())
	if err != nil {
		return nil, err
	}
	opened := time.Now()
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return nil, datadir.OwnerHint(err, cfg.DBPath(), store.KeysPath(cfg.DBPath()))
	}
	cleanup.add(func() { db.Close() })
	if from, to := db.Migrated(); from != to {
		// The first start of a newer build: an older build refuses the
		// database from now on (README, "Upgrading a province node").
		log.Info("database schema migrated: an older build refuses it from now on", "from", from, "to", to,
			"took", time.Since(opened).Round(time.Millisecond).String())
	}
	st, pinned, err := node.NewTrustState(ctx, db, kek, cfg, now())
	if err != nil {
		return nil, err
	}
	n, err := node.New(ctx, node.Config{DB: db, KEK: kek, Settings: cfg, State: st, Logger: log, Now: now})
	if err != nil {
		return nil, err
	}
	cleanup.add(func() { n.Close() })
	if err := n.RefreshOutboxMetrics(ctx); err != nil {
		return nil, fmt.Errorf("revocation outbox: %w", err)
	}
	// Sync names peers "province" in its own log lines (and itself "self"),
	// so it gets the logger without this node's province attached.
	f := &fed{cfg: cfg, n: n, log: log.With("province", cfg.Province), syncLog: log, now: now, pinned: pinned,
		jsGrace: cmp.Or(opt.JetStreamGrace, jetStreamDownAfter), republish: opt.Republish,
		erasureRetry: opt.ErasureRetry, erasureAckTimeout: opt.ErasureAckTimeout}
	f.registerCacheMetrics(n.Metrics().Registry)
	f.registerWaitMetrics(n.Metrics().Registry)
	f.registerSourceMetrics(n.Metrics().Registry)
	f.registerServiceDropMetrics(n.Metrics().Registry)
	f.registerSuspendedMetric(n.Metrics().Registry)
	n.Metrics().RegisterNATSCluster(f.clusterInfo)
	registerAdminTokenMetric(n.Metrics().Registry, db, now)
	if err := f.restore(ctx); err != nil {
		return nil, fmt.Errorf("restoring cached federation statements: %w", err)
	}
	if cfg.NATS.Embedded {
		if f.server, err = startEmbedded(cfg, log); err != nil {
			return nil, err
		}
		cleanup.add(f.close)
		if cfg.NATS.Isolation == federation.IsolationAccounts && cfg.NATS.ServerConf != "" {
			if err := setupEmbeddedAccounts(ctx, cfg, f.server.ClientURL()); err != nil {
				return nil, fmt.Errorf("embedded nats accounts: %w", err)
			}
		}
	}
	shutdown := opt.ShutdownTimeout
	if shutdown <= 0 {
		shutdown = api.DefaultShutdownTimeout
	}
	srv := api.New(api.Config{Node: n, Logger: log, Ready: f.ready, Federation: f.view, TrustList: f.trustList,
		ShutdownTimeout: shutdown, LinkBase: base, MetricsToken: mtoken})
	n.Metrics().HTTPConnectionsMax.Set(float64(cfg.Limits.MaxConnections))
	runCtx, cancel := context.WithCancel(context.Background())
	d := &Daemon{Node: n, DB: db, API: srv, URL: scheme + shownAddr(cfg.Listen, l), fed: f, log: log, cancel: cancel,
		bound: shutdown + closeGrace, lock: lock, certs: certs}
	d.MetricsURL = serveMetrics(runCtx, &d.wg, ml, cfg, d.URL, n.Metrics(), shutdown, log)
	if certs != nil {
		d.wg.Add(1)
		go d.watchTLS(runCtx, cmp.Or(opt.TLSCheckEvery, 10*time.Second))
	}
	every := opt.TickEvery
	if every <= 0 {
		every = time.Minute
	}
	d.wg.Add(3)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(runCtx, l); err != nil {
			d.setErr(err)
			log.Error("http server stopped", "err", err)
		}
	}()
	go func() {
		defer d.wg.Done()
		n.Run(runCtx, every)
	}()
	go func() {
		defer d.wg.Done()
		f.run(runCtx)
	}()
	log.Info("node started", "url", d.URL, "province", cfg.Province, "nats", f.urls())
	logAdminTokens(ctx, db, now(), log)
	return d, nil
}

// NATSURL is the client URL of the node's embedded NATS server, or "".
func (d *Daemon) NATSURL() string {
	if d.fed.server != nil {
		return d.fed.server.ClientURL()
	}
	return ""
}

// Federation returns the node's federation sync once connected, or nil.
func (d *Daemon) Federation() *federation.Sync { return d.fed.sync.Load() }

func (d *Daemon) setErr(err error) {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

// Close stops serving, drains the audit log and closes the database. It
// returns within the shutdown timeout plus closeGrace even when requests
// or the federation connection do not stop: it then closes the node and
// the database anyway and says so in its error. Requests still running
// afterwards fail or have their audit entries counted lost, loudly; none
// panics.
func (d *Daemon) Close() error {
	d.cancel()
	stopped := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(stopped)
	}()
	var late error
	select {
	case <-stopped:
	case <-time.After(d.bound):
		late = fmt.Errorf("shutdown: work still running after %s; closing the node anyway", d.bound)
		d.log.Error("shutdown did not finish in time; closing the node anyway", "after", d.bound.String())
	}
	d.Node.Close()
	d.fed.close()
	err := errors.Join(d.DB.Close(), d.lock.Unlock())
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return errors.Join(d.err, late, err)
}

// Initialized reports whether cfg's data directory already holds a node.
// A database that names its province is read without a write: init,
// refusing a node an older build made, must not migrate it in passing
// (the older build would refuse it from then on).
func Initialized(ctx context.Context, cfg config.Config) (bool, error) {
	if _, err := os.Stat(cfg.DBPath()); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if ro, err := store.OpenReadOnly(ctx, cfg.DBPath()); err == nil {
		p, err := ro.GetMeta(ctx, "province")
		ro.Close()
		if err == nil && p != "" {
			return true, nil
		}
	}
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return false, err
	}
	defer db.Close()
	p, err := db.GetMeta(ctx, "province")
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return p != "", err
}

// Addr is the HTTP listen address.
func (d *Daemon) Addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(d.URL, "http://"), "https://")
}

// ReloadTLS reads the TLS certificate and key files again (on SIGHUP) and
// serves them from the next handshake on if they changed and are valid;
// connections already open are kept. A bad pair keeps the old one and is
// returned as the error.
func (d *Daemon) ReloadTLS() error {
	if d.certs == nil {
		return nil
	}
	changed, err := d.certs.Reload()
	if err != nil {
		d.log.Error("tls certificate reload failed; keeping the one in use", "err", err)
		return err
	}
	if changed {
		d.log.Info("tls certificate reloaded")
	}
	return nil
}

// Reload reads again what a SIGHUP reloads ('hcnode serve'): the TLS
// certificate (ReloadTLS) and the metrics token (ReloadMetricsToken).
// Each that fails keeps the one in use and is logged; the errors are
// joined.
func (d *Daemon) Reload() error { return errors.Join(d.ReloadTLS(), d.ReloadMetricsToken()) }

// ReloadMetricsToken reads metrics_token_file again: GET /metrics on the
// public listener asks for the token it now holds from the next request
// on, so that a rotated token works without a restart. A file missing,
// empty or readable by every user keeps the token in use, logged and
// returned. Without metrics_token_file it does nothing.
func (d *Daemon) ReloadMetricsToken() error {
	return reloadMetricsToken(d.Node.Settings(), d.API, d.log)
}

// watchTLS reloads the certificate when its files change.
func (d *Daemon) watchTLS(ctx context.Context, every time.Duration) {
	defer d.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = d.ReloadTLS()
		}
	}
}

// undo holds the clean-ups of a start under way (lock, database, node,
// federation), run in reverse if the start fails.
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }

func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}
