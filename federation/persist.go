package federation

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Applied statements are written to the Cache off Sync.mu: the handlers
// apply a statement to State under the lock and queue its cache write;
// the persister goroutine writes what is queued in one transaction per
// batch (one fsync for many deltas), together with the revocation cursor.
// The cursor it saves never passes a stream message handled after a
// write that is still queued, so a restart re-reads rather than loses. A
// failed write is retried, counted, logged and shown by Ready; it never
// advances the cursor.

// Persistence limits.
const (
	// maxPersistBatch is the most cache writes committed in one batch.
	maxPersistBatch = 512
	// maxPersistBytes bounds the statement bytes of one batch.
	maxPersistBytes = 16 << 20
	// maxPersistQueue is how many writes may wait before the handlers
	// block (back-pressure on the consumer rather than unbounded memory).
	maxPersistQueue = 8192
	// persistRetryMin and persistRetryMax bound the wait between two
	// attempts at a failed batch (persistBackoff).
	persistRetryMin = 100 * time.Millisecond
	persistRetryMax = 5 * time.Second
	// persistFlushTimeout bounds the final flush when Sync stops.
	persistFlushTimeout = 5 * time.Second
)

// CacheOp is one write of a batch: a statement to store (as PutStatement
// does), or, when Prefix is set, a prune (as DeleteStatements does).
type CacheOp struct {
	Put        CachedStatement
	Prefix     string
	MaxVersion uint64
}

// BatchCache may be implemented by a Cache to commit many writes at once.
// Without it, Sync writes one at a time through Cache and CachePruner
// (still off its lock).
type BatchCache interface {
	// WriteBatch applies ops in order and, if cursor > 0, saves cursor as
	// the revocation cursor, all in one transaction: all or nothing.
	WriteBatch(ctx context.Context, ops []CacheOp, cursor uint64) error
}

// queuedOp is a cache write waiting for the persister, with the stream
// sequence the saved cursor must stay below until it is written.
type queuedOp struct {
	op   CacheOp
	hold uint64
}

// persister queues cache writes and commits them in batches.
type persister struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled on every change of queue, want or running
	queue   []queuedOp
	want    uint64 // cursor the handlers have reached (every message up to it handled)
	saved   uint64 // cursor last saved
	running bool   // the goroutine runs: enqueue may wait for room
	// reborn is set when the revocation stream was found created again
	// (born): no cursor is saved until the cursor 0 and born are.
	reborn  bool
	born    time.Time
	failing atomic.Bool
}

func newPersister() *persister {
	p := &persister{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// cachePut queues an applied statement for the cache. hold is the stream
// sequence the cursor must not reach before it is written. Callers hold
// s.mu.
func (s *Sync) cachePut(key string, raw []byte, version, hold uint64) {
	if s.cache == nil {
		return
	}
	s.persist.enqueue(queuedOp{op: CacheOp{Put: CachedStatement{Key: key, Raw: raw, Version: version}}, hold: hold})
}

// cachePrune queues the deletion of province p's cached deltas up to seq,
// after the write of a snapshot at seq. Callers hold s.mu.
func (s *Sync) cachePrune(p string, seq uint64) {
	if s.cache == nil {
		return
	}
	if _, ok := s.cache.(CachePruner); !ok {
		if _, ok := s.cache.(BatchCache); !ok {
			return
		}
	}
	s.persist.enqueue(queuedOp{op: CacheOp{Prefix: deltaPrefix(p), MaxVersion: seq}, hold: s.revs.last + 1})
}

// holdNext is the hold of a statement that is not a stream message: the
// cursor must stay below every message handled after it was applied
// (they may have been skipped because of it). Callers hold s.mu.
func (s *Sync) holdNext() uint64 { return s.revs.last + 1 }

func (p *persister) enqueue(q queuedOp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.running && len(p.queue) >= maxPersistQueue {
		p.cond.Wait()
	}
	p.queue = append(p.queue, q)
	p.cond.Broadcast()
}

// setWant records the cursor the handlers have reached.
func (p *persister) setWant(c uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c > p.want {
		p.want = c
		p.cond.Broadcast()
	}
}

// reset sets the saved cursor read at the start of consumption.
func (p *persister) reset(c uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want, p.saved = c, c
}

// restart moves the cursor into a stream created again at born, whose
// message hold is the first handled: every queued write was applied
// before it, so the cursor stays before hold until they are written, and
// no cursor is saved before born is (writeStream).
func (p *persister) restart(hold uint64, born time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want, p.saved, p.reborn, p.born = 0, 0, true, born
	for i := range p.queue {
		p.queue[i].hold = min(p.queue[i].hold, hold)
	}
	p.cond.Broadcast()
}

// backlog is how many writes wait.
func (p *persister) backlog() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// take returns the next batch and the cursor to save with it (0: none),
// without removing the batch from the queue. ok is false if there is
// nothing to do.
func (p *persister) take() (ops []CacheOp, n int, cursor uint64, ok bool) {
	bytes := 0
	for n < len(p.queue) && n < maxPersistBatch {
		b := len(p.queue[n].op.Put.Raw)
		if n > 0 && bytes+b > maxPersistBytes {
			break
		}
		bytes += b
		ops = append(ops, p.queue[n].op)
		n++
	}
	c := p.want
	for _, q := range p.queue[n:] {
		c = min(c, q.hold-1)
	}
	if c <= p.saved || p.reborn {
		c = 0
	}
	return ops, n, c, n > 0 || c > 0 || p.reborn
}

// run writes batches until ctx ends.
func (s *Sync) runPersister(ctx context.Context) {
	p := s.persist
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	for attempt := 0; ; {
		p.mu.Lock()
		ops, n, cursor, ok := p.take()
		for !ok && ctx.Err() == nil {
			p.cond.Wait()
			ops, n, cursor, ok = p.take()
		}
		p.mu.Unlock()
		if ctx.Err() != nil {
			return // stop flushes what is left
		}
		if err := s.writeNext(context.WithoutCancel(ctx), ops, n, cursor); err != nil {
			if !persistBackoff.Sleep(ctx, attempt) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
	}
}

// writeNext writes what take returned: the stream created again first,
// if it was, else the batch.
func (s *Sync) writeNext(ctx context.Context, ops []CacheOp, n int, cursor uint64) error {
	p := s.persist
	p.mu.Lock()
	reborn, born := p.reborn, p.born
	p.mu.Unlock()
	if reborn {
		return s.writeStream(ctx, born)
	}
	return s.writeBatch(ctx, ops, n, cursor)
}

// writeStream saves the cursor 0 and the stream created again at born
// (saveStream), and lets cursors be saved again.
func (s *Sync) writeStream(ctx context.Context, born time.Time) error {
	if err := s.written(s.saveStream(ctx, born, true), 0); err != nil {
		return err
	}
	p := s.persist
	p.mu.Lock()
	if p.born.Equal(born) {
		p.reborn = false
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// written counts and logs err, a failed write of n statements (and the
// cursor), or that writes work again; it returns err.
func (s *Sync) written(err error, n int) error {
	p := s.persist
	if err != nil {
		s.stats.cacheErrors.Add(1)
		if !p.failing.Swap(true) {
			s.log.Error("federation cache not written; retrying, cursor held", "writes", n, "err", err)
		}
		return err
	}
	if p.failing.Swap(false) {
		s.log.Info("federation cache written again")
	}
	return nil
}

// writeBatch writes the first n queued ops and the cursor, and on success
// removes them from the queue. Only the persister (or stop and Restore,
// when it is not running) calls it.
func (s *Sync) writeBatch(ctx context.Context, ops []CacheOp, n int, cursor uint64) error {
	p := s.persist
	if err := s.written(s.writeOps(ctx, ops, cursor), len(ops)); err != nil {
		return err
	}
	p.mu.Lock()
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	if cursor > 0 {
		p.saved = cursor
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// writeOps writes ops and cursor through the Cache: in one transaction if
// it is a BatchCache, else one at a time, the cursor last.
func (s *Sync) writeOps(ctx context.Context, ops []CacheOp, cursor uint64) error {
	if bc, ok := s.cache.(BatchCache); ok {
		return bc.WriteBatch(ctx, ops, cursor)
	}
	for _, op := range ops {
		var err error
		if op.Prefix != "" {
			if pr, ok := s.cache.(CachePruner); ok {
				err = pr.DeleteStatements(ctx, op.Prefix, op.MaxVersion)
			}
		} else {
			err = s.cache.PutStatement(ctx, op.Put.Key, op.Put.Raw, op.Put.Version)
		}
		if err != nil {
			return fmt.Errorf("cache %s: %w", op.Put.Key+op.Prefix, err)
		}
	}
	if cursor > 0 {
		if err := s.cache.SetRevocationCursor(ctx, cursor); err != nil {
			return fmt.Errorf("revocation cursor: %w", err)
		}
	}
	return nil
}

// flush writes everything queued now, once per batch, until the queue is
// empty or a write fails. It is for when the persister is not running
// (Restore, stop). Do not hold s.mu.
func (s *Sync) flush(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	p := s.persist
	for {
		p.mu.Lock()
		ops, n, cursor, ok := p.take()
		p.mu.Unlock()
		if !ok {
			return nil
		}
		if err := s.writeNext(ctx, ops, n, cursor); err != nil {
			return err
		}
	}
}
