package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/datadir"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// Recovery is a node's database opened for a break-glass admin token
// ('hcnode account recover-admin'): beside the node if it runs, else with
// the data directory locked.
type Recovery struct {
	// Beside names the running node it works beside ("hcnode serve (pid
	// 123, since ...)"), or is "" when none runs.
	Beside string

	cfg  config.Config
	db   *store.DB
	kek  *seal.Key
	lock *datadir.Lock // nil beside a running node
}

// ErrRecoverySchema refuses a break-glass on a database whose schema is
// not this build's: it never migrates one (not under a running node of
// another build, nor in passing, which an older build would then refuse).
var ErrRecoverySchema = errors.New("database schema of another build")

// OpenRecovery opens cfg's node for a break-glass. It refuses, changing
// nothing: a verifier's config, a data directory without a node or owned
// by another user than this process's (the files SQLite adds would be
// this user's), one another command than 'hcnode serve' holds (a restore,
// a sunset), a database whose schema is not this build's, and a KEK that
// does not load. A running node is no refusal: the break-glass writes
// through SQLite beside it, as 'hcnode backup' reads.
func OpenRecovery(ctx context.Context, cfg config.Config, command string) (_ *Recovery, err error) {
	if cfg.IsVerifier() {
		return nil, errors.New("a verifier replica holds no accounts: recover the admin token at its home node")
	}
	if err := datadir.RequireNode(cfg.DataDir, cfg.DBPath()); err != nil {
		return nil, err
	}
	if err := datadir.RequireOwner(cfg.DataDir, command); err != nil {
		return nil, err
	}
	r := &Recovery{cfg: cfg}
	r.lock, err = datadir.Acquire(cfg.DataDir, command)
	if errors.Is(err, datadir.ErrLocked) {
		holder, held, herr := datadir.Holder(cfg.DataDir)
		switch {
		case herr != nil:
			return nil, herr
		case held && !strings.HasPrefix(holder, "hcnode serve"):
			return nil, fmt.Errorf("%w: %s holds %s: run this once it has ended", datadir.ErrLocked, holder, cfg.DataDir)
		case held:
			r.Beside = holder
		default:
			// It ended in between: take the lock.
			if r.lock, err = datadir.Acquire(cfg.DataDir, command); err != nil {
				return nil, err
			}
		}
	} else if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.lock.Unlock()
		}
	}()
	if r.kek, err = seal.LoadKEK(cfg.KEKPath()); err != nil {
		return nil, err
	}
	ro, err := store.OpenReadOnly(ctx, cfg.DBPath())
	if err != nil {
		return nil, err
	}
	pending, err := ro.Schema(ctx)
	ro.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecoverySchema, err)
	}
	if pending > 0 {
		return nil, fmt.Errorf("%w: %s was written by an older hcnode (%d migration(s) behind), and a break-glass never migrates it: "+
			"run this command with the build the node runs, or start the node with this build first (it migrates), then run it. "+
			"Nothing was changed", ErrRecoverySchema, cfg.DBPath(), pending)
	}
	if r.db, err = store.Open(ctx, cfg.DBPath()); err != nil {
		return nil, err
	}
	return r, nil
}

// Check says what Mint would do for bg, refusing what it would refuse
// (node.CheckBreakGlass), changing nothing.
func (r *Recovery) Check(ctx context.Context, bg node.BreakGlass, now time.Time) (node.BreakGlassTarget, error) {
	return node.CheckBreakGlass(ctx, r.db, r.kek, r.cfg, bg, now)
}

// Mint mints the break-glass token (node.RecoverAdmin); it is shown once.
func (r *Recovery) Mint(ctx context.Context, bg node.BreakGlass, now time.Time) (node.NewAccountToken, error) {
	return node.RecoverAdmin(ctx, r.db, r.kek, r.cfg, bg, now)
}

// Close closes the database and releases the data directory if it was
// taken.
func (r *Recovery) Close() error {
	var err error
	if r.db != nil {
		err = r.db.Close()
	}
	return errors.Join(err, r.lock.Unlock())
}
