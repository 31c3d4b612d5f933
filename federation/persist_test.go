package federation

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// failingCache is a MemCache whose statement writes fail on demand, as a
// full or broken disk would make them.
type failingCache struct {
	*MemCache
	fail atomic.Bool
}

func (c *failingCache) PutStatement(ctx context.Context, key string, raw []byte, version uint64) error {
	if c.fail.Load() {
		return errors.New("injected write failure")
	}
	return c.MemCache.PutStatement(ctx, key, raw, version)
}

func cursorOf(t *testing.T, c Cache) uint64 {
	t.Helper()
	n, err := c.RevocationCursor(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A delta applied while the cache cannot be written is held: the saved
// cursor stays before it, the failure is counted and Ready says so; once
// writes work again the delta is written and the cursor moves on, and a
// restart from the cache alone still holds the revocation. Before the
// persister the failed write was logged and dropped and the cursor moved
// past the delta anyway.
func TestCursorNeverPassesADeltaTheCacheFailedToWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, gdc := f.gdAtDelta1(t)
	fc := &failingCache{MemCache: &MemCache{}}
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Cache = fc }).run(t)
	u.waitReady(t)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if _, ok := fc.Get("440000.revocations.1"); !ok || cursorOf(t, fc) < 1 {
			return errors.New("delta 1 and its cursor not written yet")
		}
		return nil
	})
	before := cursorOf(t, fc)

	fc.fail.Store(true)
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if err := revokedThrough(u.state, gd, 2); err != nil {
			return err
		}
		if st := u.Stats(); st.CacheErrors == 0 || st.CacheBacklog == 0 {
			return fmt.Errorf("failure not seen yet: %+v", st)
		}
		if err := u.Ready(); !errors.Is(err, ErrNotReady) {
			return fmt.Errorf("ready (%v) although the cache cannot be written", err)
		}
		return nil
	})
	if got := cursorOf(t, fc); got != before {
		t.Fatalf("cursor moved from %d to %d past an unwritten delta", before, got)
	}

	fc.fail.Store(false)
	checkFor(t, 15*time.Second, 5*time.Millisecond, func() error {
		if _, ok := fc.Get("440000.revocations.2"); !ok {
			return errors.New("delta 2 not written yet")
		}
		if got := cursorOf(t, fc); got <= before {
			return fmt.Errorf("cursor still %d", got)
		}
		return u.Ready()
	})
	u.stop()

	again := f.newSync(nil, sh, func(c *SyncConfig) { c.Cache = fc })
	if err := again.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := revokedThrough(again.state, gd, 2); err != nil {
		t.Fatalf("after a restart from the cache: %v", err)
	}
}
