package federation

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StateUpdate is one value of the state bucket as a watcher sees it.
type StateUpdate struct {
	// Topic is what the key names; the province in it is the one whose
	// permissions allowed the write, not yet a verified signer.
	Topic Topic
	// Key is the bucket key, as ParseKey read it.
	Key string
	// Value is the raw statement; nil if Deleted.
	Value []byte
	// Revision is the bucket's sequence for this value.
	Revision uint64
	// Created is when the server stored the value.
	Created time.Time
	// Deleted reports that the key was deleted or purged.
	Deleted bool
	// Initial reports that the value was delivered in the catch-up pass
	// of WatchState, not as a live update.
	Initial bool
}

// PutState stores raw as the latest value of key (see Topic.Key) and
// returns its revision once JetStream has acknowledged it. A connection
// that speaks for a province may only write that province's keys.
func (c *Conn) PutState(ctx context.Context, key string, raw []byte) (uint64, error) {
	if err := c.checkPut(key, raw); err != nil {
		return 0, err
	}
	kv, err := c.writeBucketHandle(ctx)
	if err != nil {
		return 0, err
	}
	ctx, done := c.guard(ctx, exactly("$KV."+c.writeBucket()+"."+key))
	defer done()
	rev, err := kv.Put(ctx, key, raw)
	if err := putError(ctx, key, err); err != nil {
		return 0, err
	}
	return rev, nil
}

// checkPut refuses a put of raw under key before it is sent: a key
// ParseKey refuses, one of a province this connection does not speak
// for, or a value over the connection's limit.
func (c *Conn) checkPut(key string, raw []byte) error {
	t, err := ParseKey(key)
	if err != nil {
		return err
	}
	if err := c.mayPublish(t); err != nil {
		return err
	}
	if len(raw) > c.maxState {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, key, len(raw), c.maxState)
	}
	return nil
}

// putError is how a put of key under the guard of ctx reports err: a
// permission the server refused as such, a value over the server's
// payload limit as ErrTooLarge; nil if err is.
func putError(ctx context.Context, key string, err error) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		err = fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err = explain(ctx, err); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// GetState returns the latest value of key and its revision, or an error
// wrapping ErrNotFound if the key holds none.
func (c *Conn) GetState(ctx context.Context, key string) ([]byte, uint64, error) {
	if _, err := ParseKey(key); err != nil {
		return nil, 0, err
	}
	kv, err := c.bucketHandle(ctx)
	if err != nil {
		return nil, 0, err
	}
	return c.getState(ctx, kv, key)
}

// getState is GetState from bucket kv.
func (c *Conn) getState(ctx context.Context, kv jetstream.KeyValue, key string) ([]byte, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(e.Value()) > c.maxState {
		c.stats.stateOversized.Add(1)
		return nil, 0, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, key, len(e.Value()), c.maxState)
	}
	return e.Value(), e.Revision(), nil
}

// WatchState calls handler with every current value of the bucket (the
// catch-up pass, Initial set) and then with every change, until ctx is
// cancelled or c is closed. It returns once the catch-up pass has been
// handed to handler, so the caller knows it is current; live updates go
// on in a goroutine owned by c.
//
// Values over MaxStateLen and keys that ParseKey refuses are dropped and
// counted, never handed on. A handler panic is recovered and counted: the
// verifying layer drops bad statements itself, and nothing a peer
// publishes can stop the watch. handler is never called concurrently.
func (c *Conn) WatchState(ctx context.Context, handler func(StateUpdate)) error {
	_, err := c.watchState(ctx, handler)
	return err
}

// watchState is WatchState, and returns the watch so that its owner can
// ask whether it is current (stateWatch.currentIn).
func (c *Conn) watchState(ctx context.Context, handler func(StateUpdate)) (*stateWatch, error) {
	kv, err := c.bucketHandle(ctx)
	if err != nil {
		return nil, err
	}
	born, err := c.streamCreated(ctx, c.bucketStream())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", c.bucket, err)
	}
	sw := &stateWatch{handler: handler, caughtUp: make(chan struct{}), initial: true, born: born}
	sw.reconnect, sw.epoch = c.nextReconnect(), c.nc.Stats().Reconnects // before the watcher: a reconnect from here on restarts it
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", c.bucket, err)
	}
	c.run(ctx, func(ctx context.Context) {
		c.watch(ctx, kv, w, sw)
	})
	select {
	case <-sw.caughtUp:
		return sw, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.life.Done():
		return nil, errors.New("watch: connection closed")
	}
}

// stateWatch is the progress of one WatchState across restarts.
type stateWatch struct {
	handler  func(StateUpdate)
	caughtUp chan struct{} // closed at the end of the first catch-up pass
	initial  bool          // still in the catch-up pass
	last     uint64        // highest revision seen
	born     time.Time     // when the bucket's stream was created
	// reconnect is the connection's next-reconnect signal as it was
	// before the current watcher was made: taken after, a reconnect in
	// between (a server restart) went unseen, and the watcher, its
	// consumer lost with the server, stayed silent until nats.go missed
	// its heartbeats.
	reconnect <-chan struct{}
	// epoch is the connection's epoch (Conn.epoch) as it was when the
	// current watcher was made, read after reconnect: a reconnect in
	// between closes reconnect and the watcher is made again.
	epoch uint64
	// current is epoch+1 once the current watcher has handed on every
	// value the bucket held when it was made; 0 before.
	current atomic.Uint64
}

// currentIn reports whether the watch has handed on every value the
// bucket held when it was last made, over the connection of epoch (see
// Conn.epoch): after a reconnection, what the watch missed while the
// connection was down.
func (sw *stateWatch) currentIn(epoch uint64) bool { return sw.current.Load() == epoch+1 }

// bucketStream is the name of the stream behind the state bucket read.
func (c *Conn) bucketStream() string { return "KV_" + c.bucket }

// watch delivers updates until ctx is done. When the watcher ends while c
// is open, or the connection comes back after an outage (the server may
// have lost the watcher's consumer, and nats.go would only notice after
// missing heartbeats for ~10 s), it watches again from the revision after
// the last one seen, so nothing is missed or repeated; or, if the bucket
// was created again since (deleted, or lost with a server's storage, and
// made anew by EnsureStreams), the new bucket's latest values, whose
// revisions start again at 1.
func (c *Conn) watch(ctx context.Context, kv jetstream.KeyValue, w jetstream.KeyWatcher, sw *stateWatch) {
	failures := 0
	for {
		if w != nil {
			if c.drainWatcher(ctx, w, sw) {
				failures = 0 // reconnected: restart at once
			} else {
				failures++
			}
		}
		if ctx.Err() != nil || c.nc.IsClosed() {
			return
		}
		c.stats.restarts.Add(1)
		if failures > 0 && !reconnectBackoff.Sleep(ctx, failures-1) {
			return
		}
		var err error
		sw.reconnect, sw.epoch = c.nextReconnect(), c.nc.Stats().Reconnects
		if w, err = c.rewatch(ctx, kv, sw); err != nil {
			c.log.Warn("state watch restart failed", "bucket", c.bucket, "err", err)
			w, failures = nil, failures+1
		}
	}
}

// rewatch watches the bucket again after sw's last revision, or for its
// latest values if it was created again since sw.born.
func (c *Conn) rewatch(ctx context.Context, kv jetstream.KeyValue, sw *stateWatch) (jetstream.KeyWatcher, error) {
	created, err := c.streamCreated(ctx, c.bucketStream())
	if err != nil {
		return nil, err
	}
	if !created.Equal(sw.born) {
		c.log.Warn("state bucket was created again; reading its latest values", "bucket", c.bucket, "was_at", sw.last)
		sw.born, sw.last = created, 0
	}
	if sw.last == 0 {
		return kv.WatchAll(ctx)
	}
	return kv.WatchAll(ctx, jetstream.ResumeFromRevision(sw.last+1))
}

// drainWatcher hands w's updates to the handler until ctx is done, w ends
// or the connection is re-established, and reports whether it stopped for
// a reconnection. It always leaves w stopped and its channel drained, so
// nats.go's delivery goroutine cannot block.
func (c *Conn) drainWatcher(ctx context.Context, w jetstream.KeyWatcher, sw *stateWatch) (reconnected bool) {
	defer func() {
		_ = w.Stop()
		timeout := time.NewTimer(drainTimeout)
		defer timeout.Stop()
		for {
			select {
			case _, ok := <-w.Updates():
				if !ok {
					return
				}
			case <-timeout.C:
				c.log.Warn("state watch did not close in time", "bucket", c.bucket)
				return
			}
		}
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.watchBirth(wctx, c.bucketStream(), sw.born, func() { _ = w.Stop() })
	for {
		select {
		case <-ctx.Done():
			return false
		case <-sw.reconnect:
			c.log.Info("state watch resuming after reconnect", "bucket", c.bucket, "from", sw.last+1)
			return true
		case e, ok := <-w.Updates():
			if !ok {
				c.log.Warn("state watch ended", "bucket", c.bucket)
				return false
			}
			if e == nil { // end of the catch-up pass
				sw.current.Store(sw.epoch + 1)
				if sw.initial {
					sw.initial = false
					close(sw.caughtUp)
				}
				continue
			}
			sw.last = max(sw.last, e.Revision())
			c.deliverState(e, sw.initial, sw.handler)
		}
	}
}

func (c *Conn) deliverState(e jetstream.KeyValueEntry, initial bool, handler func(StateUpdate)) {
	t, err := ParseKey(e.Key())
	if err != nil {
		c.stats.stateBadKey.Add(1)
		c.log.Warn("state value dropped: bad key", "revision", e.Revision(), "err", err)
		return
	}
	if len(e.Value()) > c.maxState {
		c.stats.stateOversized.Add(1)
		c.log.Warn("state value dropped: too large", "key", e.Key(), "revision", e.Revision(), "bytes", len(e.Value()), "limit", c.maxState)
		return
	}
	u := StateUpdate{
		Topic: t, Key: e.Key(), Value: e.Value(), Revision: e.Revision(), Created: e.Created(),
		Deleted: e.Operation() != jetstream.KeyValuePut, Initial: initial,
	}
	if u.Deleted {
		u.Value = nil
	}
	c.stats.stateDelivered.Add(1)
	if err := safely(func() error { handler(u); return nil }); err != nil {
		c.stats.handlerErrors.Add(1)
		c.log.Error("state handler failed", "key", u.Key, "revision", u.Revision, "err", err)
	}
}

// bucketHandle returns the state bucket, looking it up on first use.
func (c *Conn) bucketHandle(ctx context.Context) (jetstream.KeyValue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kv != nil {
		return c.kv, nil
	}
	kv, err := c.js.KeyValue(ctx, c.bucket)
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("state bucket %s: %w (has EnsureStreams run?)", c.bucket, err)
		}
		return nil, fmt.Errorf("state bucket %s: %w", c.bucket, err)
	}
	c.kv = kv
	return kv, nil
}

// StateHistory returns the values the bucket still keeps for key, oldest
// first (at most the bucket's history depth), skipping deletions and
// values over the size limit. A node that missed several trust list
// versions walks them in order with it.
func (c *Conn) StateHistory(ctx context.Context, key string) ([][]byte, error) {
	if _, err := ParseKey(key); err != nil {
		return nil, err
	}
	kv, err := c.bucketHandle(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := kv.History(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", key, err)
	}
	var out [][]byte
	for _, e := range entries {
		if e.Operation() != jetstream.KeyValuePut || len(e.Value()) > c.maxState {
			continue
		}
		out = append(out, e.Value())
	}
	return out, nil
}
