package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PublishState stores raw as the latest value of key, as PutState does,
// for a one-shot command (hcnode trust publish) that may lose
// JetStream's reply: each attempt waits setupAttemptWait at most for its
// acknowledgement, and one whose reply did not come is made again at
// once, while ctx lasts, rather than waiting until the whole ctx ends
// for a reply that comes at most once.
//
// A put is made again only because it is idempotent here: each attempt
// first reads what key holds, and one that finds raw stored (by an
// attempt whose reply was lost) returns its revision; and every put
// expects the revision key had when the first attempt read it
// (JetStream's expected last sequence per subject), so that a put still
// in flight from an earlier attempt cannot add a second revision, which
// a node would see as the same statement published twice. A value
// another writer stored meanwhile is not overwritten: PublishState
// returns an error wrapping ErrStateChanged. A key that holds raw
// already is left as it is.
//
// check, if not nil, is the caller's check of raw against what the
// federation holds (hcnode trust publish: would the nodes accept this
// list after the one they hold?). It is called after the revision every
// put expects has been read and before it is kept, so that what it read
// is what the put replaces: a value stored after it began makes the put
// fail with ErrStateChanged, never replace a value raw was not checked
// against. Its error is returned as it is; it runs again only if its
// attempt's reply was lost.
func (c *Conn) PublishState(ctx context.Context, key string, raw []byte, check func(context.Context) error) (uint64, error) {
	return c.publishState(ctx, key, raw, check, setupAttemptWait)
}

// publishState is PublishState with each attempt bounded by wait.
func (c *Conn) publishState(ctx context.Context, key string, raw []byte, check func(context.Context) error, wait time.Duration) (uint64, error) {
	if err := c.checkPut(key, raw); err != nil {
		return 0, err
	}
	kv, err := c.writeBucketHandle(ctx)
	if err != nil {
		return 0, err
	}
	var last *uint64 // the revision every put expects, once read
	return retryLost(ctx, wait, func(actx context.Context) (uint64, error) {
		return c.publishStateOnce(actx, kv, key, raw, check, &last)
	})
}

// publishStateOnce is one attempt of PublishState. The first to read
// what key holds and pass check sets *last to the revision it read (the
// check runs also when key holds raw already: it may have more to say).
func (c *Conn) publishStateOnce(ctx context.Context, kv jetstream.KeyValue, key string, raw []byte, check func(context.Context) error, last **uint64) (uint64, error) {
	ctx, done := c.guard(ctx, exactly("$KV."+c.writeBucket()+"."+key))
	defer done()
	var refused error                  // check's refusal, returned as it is
	stored := func() (uint64, error) { // what key holds is raw, or a stranger's
		cur, rev, err := c.latestState(ctx, kv, key)
		if err != nil {
			return 0, err
		}
		if *last == nil {
			if check != nil {
				if refused = check(ctx); refused != nil {
					return 0, refused
				}
			}
			*last = &rev
		}
		switch {
		case cur != nil && bytes.Equal(cur, raw):
			return rev, nil
		case rev != **last:
			return 0, fmt.Errorf("%w: revision %d stored since revision %d was read", ErrStateChanged, rev, **last)
		}
		return 0, errNotYet
	}
	rev, err := stored()
	if refused != nil {
		return 0, refused
	}
	if errors.Is(err, errNotYet) {
		rev, err = kv.Update(ctx, key, raw, **last)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) { // stored since the read above
			rev, err = stored()
		}
	}
	if err := putError(ctx, key, err); err != nil {
		return 0, err
	}
	return rev, nil
}

// errNotYet is publishStateOnce's word for a key that does not hold its
// value yet, and holds what it held when first read.
var errNotYet = errors.New("not stored yet")

// latestState reads the value key holds in kv and its revision, that of
// the key's latest entry: nil and the deletion's revision if it was
// deleted, nil and 0 if it never held one.
func (c *Conn) latestState(ctx context.Context, kv jetstream.KeyValue, key string) ([]byte, uint64, error) {
	e, err := kv.Get(ctx, key)
	if err == nil {
		return e.Value(), e.Revision(), nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, err
	}
	// Not found, or deleted (Get says not found for both): the deletion
	// marker's revision is the one a put must expect.
	hist, err := kv.History(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrNoKeysFound) || errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	case len(hist) == 0:
		return nil, 0, nil
	}
	return nil, hist[len(hist)-1].Revision(), nil
}

// retryLost runs attempt, each run bounded by wait, and runs it again at
// once while a run ends only because its reply did not come within wait
// (ctx still lasting); any other outcome, or ctx's end, is returned.
func retryLost[T any](ctx context.Context, wait time.Duration, attempt func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, wait)
		v, err := attempt(actx)
		lost := err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if !lost {
			return v, err
		}
	}
}
