package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// SyncConfig configures a Sync.
type SyncConfig struct {
	// Conn is the federation connection. Required by Run; a Sync with no
	// Conn can only Restore and report its View.
	Conn *Conn
	// State is what this node trusts; Sync changes it only through its
	// Apply methods. Required.
	State *trust.State
	// Self is this node's province id. Required.
	Self string
	// Cache keeps applied statements and the revocation cursor across
	// restarts; nil keeps nothing.
	Cache Cache
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives sync events; nil discards them. Statements are never
	// logged, only their kind, province and reason.
	Logger *slog.Logger
	// OnStatement is told the outcome of every statement received: kind
	// (a Kind) and reason "ok" when applied, else the trust.Reason it was
	// refused for. It is called synchronously and must not block.
	// Statements merely repeated (the same bytes again, a revocation
	// already covered) are not reported.
	OnStatement func(kind, reason string)
	// OnPeerKeyset is called after another province's new keyset was
	// applied, so the node can send that province its content-key grants.
	// It is called synchronously and must not block.
	OnPeerKeyset func(province string)
	// OnPeerHeartbeat is called after each heartbeat of another province
	// applied (not older than the one held) that is fresh (issued within
	// StaleAfter), so the node can tell that the province is there, and
	// send it what waited for it (erasures) without waiting for a retry.
	// A member may publish heartbeats as often as it likes: the callee
	// decides what one is worth. It is called synchronously and must not
	// block.
	OnPeerHeartbeat func(province string)
	// PinnedTrustList is the trust list document given at install. It is
	// applied first if State holds no trust list.
	PinnedTrustList []byte
	// Replica makes this Sync a verifier replica's: it applies Self's own
	// revocation deltas and snapshots from the federation as it does a
	// peer's (a replica has no database that is their source of truth),
	// and ignores content-key grants, which are encrypted to the home
	// node's key; a replica receives its content keys from its home node.
	Replica bool

	// StaleAfter is how long a member may go without a heartbeat before
	// View marks it stale; default DefaultStaleAfter.
	StaleAfter time.Duration
	// ExpiryWarning is how far ahead of the trust list's (or a keyset's)
	// expiry View starts warning; default DefaultExpiryWarning.
	ExpiryWarning time.Duration
	// SyncInterval is how often, while connected, State.MarkSynced is
	// called; default DefaultSyncInterval.
	SyncInterval time.Duration
	// MaxPending bounds the statements held while waiting for the
	// statement they depend on; default DefaultMaxPending.
	MaxPending int
	// KeysetWait bounds how long a member's statement whose key its
	// keyset does not hold (yet) or not as active waits for a keyset that
	// does, before it is refused; default DefaultKeysetWait.
	KeysetWait time.Duration
}

// Defaults of SyncConfig.
const (
	DefaultStaleAfter    = 2 * time.Minute
	DefaultExpiryWarning = 7 * 24 * time.Hour
	DefaultSyncInterval  = 10 * time.Second
	DefaultMaxPending    = 256
	// DefaultKeysetWait covers a rotation's keyset (in the bucket) and
	// the first statements of its new key (on the stream) travelling
	// apart, and the home node publishing its keyset again after a
	// failure. Nobody can check the signature of a statement whose key
	// is unknown, so a forged one must not be held for longer: a delta it
	// is refused for is filled from a snapshot, as a gap is.
	DefaultKeysetWait = 5 * time.Minute
)

// Sync is the verifying half of a node's federation link: it watches the
// state bucket and the revocation stream, and applies to a trust.State
// every statement that verifies, in whatever order statements arrive. It
// never trusts the transport: a statement that fails is dropped, counted
// and logged, and the watch goes on.
//
// A statement that depends on one not yet received (a keyset before the
// trust list naming its province, a grant before its issuer's keyset) is
// held in a small bounded set and tried again after each trust list or
// keyset applied. Revocation deltas are applied in each province's seq
// order; a gap is filled from the province's snapshot (see PutSnapshot)
// while other provinces' deltas go on.
type Sync struct {
	conn         *Conn
	state        *trust.State
	self         string
	cache        Cache
	now          func() time.Time
	log          *slog.Logger
	onStatement  func(kind, reason string)
	onPeerKeyset func(province string)
	onPeerBeat   func(province string)
	pinned       []byte
	replica      bool
	staleAfter   time.Duration
	warnAhead    time.Duration
	syncEvery    time.Duration
	keysetWait   time.Duration
	snapRate     int64 // snapshotBytesPerMinute; tests lower it under mu

	// mu serialises statement processing: the state watcher, the
	// revocation consumer and the catch-up worker each hold it while they
	// apply, so the pending set and revocation tracking need no more.
	mu        sync.Mutex
	pending   pendingSet
	needRetry bool // a trust list or keyset was applied: drain pending
	revs      revTracker
	persist   *persister // cache writes, off mu

	hbMu       sync.RWMutex
	heartbeats map[string]heartbeatSeen
	hbWaiting  map[string]waitingHeartbeat // under mu; see heartbeatClaim

	running atomic.Bool
	// caughtIn is the connection epoch (Conn.epoch) over which the Sync
	// last caught up, plus one; 0 before its first catch-up (caughtup.go).
	caughtIn atomic.Uint64
	// streamGen counts the revocation streams found created again while
	// running (streamRecreated); caughtGen is its value when the Sync
	// last caught up. They differ while it catches up on a new stream.
	streamGen, caughtGen atomic.Uint64
	watch                *stateWatch   // set by Run before its goroutines start
	kick                 chan struct{} // wakes the catch-up worker
	// caughtUpKick wakes markSynced at the end of a catch-up.
	caughtUpKick chan struct{}
	// catchUpKick wakes followCatchUp as the consumer reaches the end.
	catchUpKick chan struct{}

	// alive lets Run wait for handlers running on the Conn's goroutines;
	// once stopped is set, late handler calls return at once.
	alive   sync.RWMutex
	stopped bool

	stats syncCounters
	waits waitGauges // see Waits
}

// NewSync makes a Sync. It does no I/O.
func NewSync(cfg SyncConfig) (*Sync, error) {
	if cfg.State == nil {
		return nil, errors.New("sync: a trust.State is required")
	}
	if err := ValidateProvince(cfg.Self); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	if cfg.Conn != nil && cfg.Conn.Province() != "" && cfg.Conn.Province() != cfg.Self {
		return nil, fmt.Errorf("sync: connection speaks for %s, not %s", cfg.Conn.Province(), cfg.Self)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Sync{
		conn: cfg.Conn, state: cfg.State, self: cfg.Self, cache: cfg.Cache, now: now,
		log:          log.With("component", "sync", "self", cfg.Self),
		onStatement:  cfg.OnStatement,
		onPeerKeyset: cfg.OnPeerKeyset,
		onPeerBeat:   cfg.OnPeerHeartbeat,
		pinned:       cfg.PinnedTrustList,
		replica:      cfg.Replica,
		staleAfter:   orDefaultDuration(cfg.StaleAfter, DefaultStaleAfter),
		warnAhead:    orDefaultDuration(cfg.ExpiryWarning, DefaultExpiryWarning),
		syncEvery:    orDefaultDuration(cfg.SyncInterval, DefaultSyncInterval),
		keysetWait:   orDefaultDuration(cfg.KeysetWait, DefaultKeysetWait),
		snapRate:     snapshotBytesPerMinute,
		pending:      pendingSet{max: orDefault(cfg.MaxPending, DefaultMaxPending)},
		revs:         newRevTracker(),
		persist:      newPersister(),
		heartbeats:   map[string]heartbeatSeen{},
		hbWaiting:    map[string]waitingHeartbeat{},
		kick:         make(chan struct{}, 1),
		caughtUpKick: make(chan struct{}, 1),
		catchUpKick:  make(chan struct{}, 1),
	}
	return s, nil
}

// Run applies the pinned trust list if State holds none, catches up on
// the state bucket, fetches the snapshots of provinces it is behind,
// consumes the revocation stream from the cached cursor, and then follows
// both until ctx ends. Steps that fail (NATS unreachable, bucket missing)
// are retried with backoff. Run may be called once; it returns nil when
// ctx ends, and only after its handlers have stopped.
func (s *Sync) Run(ctx context.Context) error {
	if s.conn == nil {
		return errors.New("sync: Run needs a connection")
	}
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sync: Run called twice")
	}
	defer s.stop(ctx)
	s.mu.Lock()
	s.applyPinned()
	s.unlock()

	watch := func() (err error) {
		s.watch, err = s.conn.watchState(ctx, s.onState)
		return err
	}
	if !s.retry(ctx, "watch state", watch) {
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.runPersister(ctx) })
	s.catchUpPointers(ctx)
	if !s.retry(ctx, "consume revocations", func() error { return s.consume(ctx) }) {
		return nil
	}
	wg.Go(func() { s.worker(ctx) })
	wg.Go(func() { s.followCatchUp(ctx) })
	wg.Go(func() { s.markSynced(ctx) })
	<-ctx.Done()
	return nil
}

// retry calls fn until it succeeds or ctx ends, and reports whether it
// succeeded.
func (s *Sync) retry(ctx context.Context, what string, fn func() error) bool {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.Warn("federation sync step failed; retrying", "step", what, "err", err)
		if !reconnectBackoff.Sleep(ctx, attempt) {
			return false
		}
	}
}

// stop waits for handlers still running on the Conn's goroutines, makes
// later ones return at once, and saves the revocation cursor.
func (s *Sync) stop(ctx context.Context) {
	s.alive.Lock()
	s.stopped = true
	s.alive.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	s.saveCursor()
	s.mu.Unlock()
	if err := s.flush(ctx); err != nil {
		s.log.Error("federation cache not flushed at stop; the cursor stays where it was saved", "err", err)
	}
}

// enter is called by every handler; exit must follow if it returns true.
func (s *Sync) enter() bool {
	s.alive.RLock()
	if s.stopped {
		s.alive.RUnlock()
		return false
	}
	return true
}

func (s *Sync) exit() { s.alive.RUnlock() }

// syncSaveEvery bounds how often the time of the last sync is saved in a
// Cache that keeps it (SyncRecorder): the time a restarted node restores
// is at most this much older than its last contact, which only makes it
// answer trust_stale that much sooner.
const syncSaveEvery = time.Minute

// markSynced tells State, every SyncInterval while connected and caught
// up, that its view is current, so that its staleness limit measures the
// time since the last contact with the federation; and saves that time
// in a Cache that keeps it, at once after the catch-up and then at most
// every syncSaveEvery, so that a restart does not forget it.
func (s *Sync) markSynced(ctx context.Context) {
	t := time.NewTicker(s.syncEvery)
	defer t.Stop()
	rec, _ := s.cache.(SyncRecorder)
	var saved time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.caughtUpKick:
		}
		now, ok := s.syncTick()
		if !ok || rec == nil || (!saved.IsZero() && now.Sub(saved) < syncSaveEvery) {
			continue
		}
		if err := rec.SetLastSynced(ctx, now); err != nil {
			s.log.Warn("the time of the last sync was not saved; a restart without NATS answers trust_stale sooner", "err", err)
			continue
		}
		saved = now
	}
}

// syncTick marks State synced if the federation is in reach and the
// Sync has caught up over the current connection, and returns the time
// it did.
func (s *Sync) syncTick() (time.Time, bool) {
	if epoch, ok := s.conn.epoch(); !ok || !s.caughtUpIn(epoch) {
		return time.Time{}, false
	}
	now := s.now()
	s.state.MarkSynced(now)
	return now, true
}

// Ready reports nil once the Sync has caught up over the current
// connection (see caughtup.go) and the connection is up, else an error
// wrapping ErrNotReady that says which is missing.
func (s *Sync) Ready() error {
	if s.conn == nil {
		return fmt.Errorf("%w: no federation connection", ErrNotReady)
	}
	epoch, connected := s.conn.epoch()
	switch {
	case !connected:
		return fmt.Errorf("%w: not connected to NATS", ErrNotReady)
	case s.caughtIn.Load() == 0:
		return ErrInitialCatchUp
	case !s.caughtUpIn(epoch):
		return ErrCatchingUp
	case s.persist.failing.Load():
		return fmt.Errorf("%w: federation cache writes failing", ErrNotReady)
	}
	return nil
}

// ownsRevocations reports whether p's revocations are this node's own,
// known from its database rather than from the federation.
func (s *Sync) ownsRevocations(p string) bool { return p == s.self && !s.replica }

// isMember reports whether p is a member the current trust names.
func (s *Sync) isMember(p string) bool {
	m, ok := s.state.Snapshot().Members[p]
	return ok && m.Status != trust.MemberRemoved
}

// accepted counts an applied statement.
func (s *Sync) accepted(kind Kind) {
	s.stats.applied.Add(1)
	if s.onStatement != nil {
		s.onStatement(string(kind), string(trust.ReasonOK))
	}
}

// reject counts and logs a dropped statement: its kind, province and
// reason, never its bytes.
func (s *Sync) reject(kind Kind, p string, reason trust.Reason, err error) {
	s.stats.rejected.Add(1)
	if s.onStatement != nil {
		s.onStatement(string(kind), string(reason))
	}
	s.log.Warn("statement rejected", "kind", string(kind), "province", p, "reason", string(reason), "err", err)
}

// wake asks the catch-up worker to look for work.
func (s *Sync) wake() { kick(s.kick) }

// kick signals ch without blocking: a signal already pending is enough.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func orDefaultDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
