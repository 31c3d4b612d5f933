// Package daemon assembles a running node from its configuration: the
// database, the KEK, the node, its HTTP server and, when configured, the
// federation. cmd/hcnode, the demo and multi-node tests all start nodes
// through it, so they run exactly what production runs.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/api"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// Init prepares a new province's data directory: a KEK file (unless
// $HCNODE_KEK is set), the database with fresh keys, and a first operator
// token, which it returns (shown once, stored hashed).
func Init(ctx context.Context, cfg config.Config) (operatorToken string, err error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
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
	return n.CreateOperatorToken(ctx, "init")
}

// Options adjust a started node.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Listener serves HTTP; nil listens on cfg.Listen.
	Listener net.Listener
	// TickEvery is how often key maintenance runs; default 1 minute.
	TickEvery time.Duration
}

// Daemon is a running node.
type Daemon struct {
	Node *node.Node
	DB   *store.DB
	API  *api.Server
	URL  string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// Start opens the node described by cfg and serves it until Close.
func Start(ctx context.Context, cfg config.Config, opt Options) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kek, err := seal.LoadKEK(cfg.KEKPath())
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return nil, err
	}
	n, err := node.New(ctx, node.Config{DB: db, KEK: kek, Settings: cfg, Logger: log, Now: opt.Now})
	if err != nil {
		db.Close()
		return nil, err
	}
	l := opt.Listener
	if l == nil {
		if l, err = net.Listen("tcp", cfg.Listen); err != nil {
			n.Close()
			db.Close()
			return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
	}
	srv := api.New(api.Config{Node: n, Logger: log})
	runCtx, cancel := context.WithCancel(context.Background())
	d := &Daemon{Node: n, DB: db, API: srv, URL: "http://" + l.Addr().String(), cancel: cancel}
	every := opt.TickEvery
	if every <= 0 {
		every = time.Minute
	}
	d.wg.Add(2)
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
	log.Info("node started", "url", d.URL, "province", cfg.Province)
	return d, nil
}

func (d *Daemon) setErr(err error) {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

// Close stops serving, drains the audit log and closes the database.
func (d *Daemon) Close() error {
	d.cancel()
	d.wg.Wait()
	d.Node.Close()
	err := d.DB.Close()
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return errors.Join(d.err, err)
}

// Initialized reports whether cfg's data directory already holds a node.
func Initialized(ctx context.Context, cfg config.Config) (bool, error) {
	if _, err := os.Stat(cfg.DBPath()); errors.Is(err, os.ErrNotExist) {
		return false, nil
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
