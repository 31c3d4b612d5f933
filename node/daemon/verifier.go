package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/api"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/replica"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// Verifier is a running verifier replica (role verifier): no node
// database, no keys, no publication — its own replica.db, the federation
// followed read-only, and the home node for scanners and content keys.
type Verifier struct {
	Replica *replica.Replica
	DB      *store.ReplicaDB
	API     *api.Server
	URL     string
	// MetricsURL is the replica's metrics page, as Daemon's.
	MetricsURL string

	cfg    config.Config
	now    func() time.Time
	sync   atomic.Pointer[federation.Sync]
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lock   *datadir.Lock
	certs  *api.CertReloader
	bound  time.Duration
}

// StartVerifier opens the verifier replica described by cfg (role
// verifier) and serves it until Close. Its KEK, which seals only the
// replica's own enc key, is made at the first start unless $HCNODE_KEK
// is set.
func StartVerifier(ctx context.Context, cfg config.Config, opt Options) (_ *Verifier, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.IsVerifier() {
		return nil, errors.New("verifier: config role is not verifier")
	}
	log := cmp.Or(opt.Logger, slog.New(slog.DiscardHandler))
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	var cleanup undo
	defer func() {
		if err != nil {
			cleanup.run()
		}
	}()
	// Bound first, as Start does: a port in use is refused before a KEK
	// or a database is made.
	mtoken, err := metricsToken(cfg)
	if err != nil {
		return nil, err
	}
	lock, l, scheme, certs, ml, err := bindFirst(cfg, opt, &cleanup)
	if err != nil {
		return nil, err
	}
	if os.Getenv(seal.EnvKEK) == "" {
		if _, err := os.Stat(cfg.KEKPath()); errors.Is(err, os.ErrNotExist) {
			if err := seal.WriteKEKFile(cfg.KEKPath()); err != nil {
				return nil, err
			}
		}
	}
	kek, err := seal.LoadKEK(cfg.KEKPath())
	if err != nil {
		return nil, err
	}
	db, err := store.OpenReplica(ctx, cfg.ReplicaDBPath())
	if err != nil {
		return nil, err
	}
	cleanup.add(func() { db.Close() })
	r, err := replica.New(ctx, replica.Config{Settings: cfg, DB: db, KEK: kek, Logger: log, Now: now})
	if err != nil {
		return nil, err
	}
	if err := r.CheckHomeProvince(ctx); err != nil {
		return nil, err
	}
	restore, err := federation.NewSync(verifierSync(cfg, r, nil, now, log))
	if err != nil {
		return nil, err
	}
	if err := restore.Restore(ctx); err != nil {
		return nil, fmt.Errorf("restoring cached federation statements: %w", err)
	}
	shutdown := cmp.Or(opt.ShutdownTimeout, api.DefaultShutdownTimeout)
	runCtx, cancel := context.WithCancel(context.Background())
	v := &Verifier{Replica: r, DB: db, URL: scheme + shownAddr(cfg.Listen, l), cfg: cfg, now: now, log: log, cancel: cancel,
		lock: lock, certs: certs, bound: shutdown + closeGrace}
	v.API = api.NewVerifier(api.VerifierConfig{Verifier: r, Logger: log, Ready: v.ready, Federation: v.view,
		ShutdownTimeout: shutdown, MetricsToken: mtoken})
	r.Metrics().HTTPConnectionsMax.Set(float64(cfg.Limits.MaxConnections))
	v.MetricsURL = serveMetrics(runCtx, &v.wg, ml, cfg, v.URL, r.Metrics(), shutdown, log)
	v.wg.Add(3)
	go func() {
		defer v.wg.Done()
		if err := v.API.Serve(runCtx, l); err != nil {
			log.Error("http server stopped", "err", err)
		}
	}()
	go func() {
		defer v.wg.Done()
		r.Run(runCtx)
	}()
	go func() {
		defer v.wg.Done()
		v.follow(runCtx)
	}()
	log.Info("verifier replica started", "url", v.URL, "province", cfg.Province, "home", cfg.Replica.Home)
	return v, nil
}

// follow connects to the federation's NATS (retrying until ctx ends) and
// applies what it publishes to the replica's trust state, the province's
// own revocations included. It creates no stream and publishes nothing.
func (v *Verifier) follow(ctx context.Context) {
	f := &fed{cfg: v.cfg, log: v.log.With("province", v.cfg.Province), syncLog: v.log}
	conn := f.connect(ctx)
	if conn == nil {
		return
	}
	defer conn.Close()
	s, err := federation.NewSync(verifierSync(v.cfg, v.Replica, conn, v.now, v.log))
	if err != nil {
		v.log.Error("federation sync", "err", err)
		return
	}
	v.sync.Store(s)
	if err := s.Run(ctx); err != nil {
		v.log.Error("federation sync stopped", "err", err)
	}
}

// verifierSync is a replica's sync configuration: its own province's
// revocations followed, grants ignored, statements cached in replica.db.
func verifierSync(cfg config.Config, r *replica.Replica, conn *federation.Conn, now func() time.Time, log *slog.Logger) federation.SyncConfig {
	return federation.SyncConfig{Conn: conn, State: r.State(), Self: cfg.Province, Replica: true, Cache: r.StatementCache(),
		Now: now, Logger: log, PinnedTrustList: r.PinnedTrustList(),
		OnStatement: func(kind, reason string) {
			r.Metrics().Statements.WithLabelValues(kind, reason).Inc()
		}}
}

// ready: connected to the federation and caught up.
func (v *Verifier) ready(context.Context) error {
	s := v.sync.Load()
	if s == nil {
		return notConnected
	}
	if err := s.Ready(); err != nil {
		return federationNotReady(err)
	}
	return nil
}

// view answers GET /v1/federation.
func (v *Verifier) view() any {
	if s := v.sync.Load(); s != nil {
		return s.View()
	}
	return federation.FederationView{Self: v.Replica.Settings().Province, Members: []federation.MemberView{},
		Warnings: []string{}, WarningDetails: []federation.Warning{}}
}

// Federation returns the replica's federation sync once connected, or nil.
func (v *Verifier) Federation() *federation.Sync { return v.sync.Load() }

// ReloadTLS reads the TLS certificate again, as Daemon.ReloadTLS does.
func (v *Verifier) ReloadTLS() error {
	if v.certs == nil {
		return nil
	}
	if _, err := v.certs.Reload(); err != nil {
		v.log.Error("tls certificate reload failed; keeping the one in use", "err", err)
		return err
	}
	return nil
}

// Reload reads again what a SIGHUP reloads, as Daemon.Reload does.
func (v *Verifier) Reload() error { return errors.Join(v.ReloadTLS(), v.ReloadMetricsToken()) }

// ReloadMetricsToken reads metrics_token_file again, as
// Daemon.ReloadMetricsToken does.
func (v *Verifier) ReloadMetricsToken() error { return reloadMetricsToken(v.cfg, v.API, v.log) }

// Close stops serving and following, and closes the database. Records
// not yet sent stay queued for the next start.
func (v *Verifier) Close() error {
	v.cancel()
	stopped := make(chan struct{})
	go func() {
		v.wg.Wait()
		close(stopped)
	}()
	var late error
	select {
	case <-stopped:
	case <-time.After(v.bound):
		late = fmt.Errorf("shutdown: work still running after %s; closing anyway", v.bound)
	}
	return errors.Join(late, v.DB.Close(), v.lock.Unlock())
}
