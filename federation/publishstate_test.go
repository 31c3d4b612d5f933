package federation

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// A JetStream reply comes at most once. hcnode trust publish put the
// trust list with one request that waited the whole --timeout when its
// reply was lost; PublishState waits an attempt's bound and tries again.
// The reply is lost for real here: the bucket's stream is set not to
// acknowledge, so JetStream stores each put and answers none. The second
// attempt finds the value the first stored and returns its revision:
// one revision, not two, well within the whole context.
func TestPublishStateAfterALostReplyMakesNoSecondRevision(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := runServer(t)
	c := connectReady(t, s, "")
	v1, v2 := []byte("trust list, version 1"), []byte("trust list, version 2")
	r1, err := c.PutState(ctx, "trustlist", v1)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.js.Stream(ctx, c.bucketStream())
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.NoAck = true // every reply lost from here on
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	const attempt = 300 * time.Millisecond
	whole, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	rev, err := c.publishState(whole, "trustlist", v2, nil, attempt)
	if err != nil {
		t.Fatalf("PublishState with its reply lost: %v after %s", err, time.Since(start))
	}
	if whole.Err() != nil {
		t.Fatal("PublishState returned only when its whole context ended")
	}
	if time.Since(start) < attempt {
		t.Fatalf("PublishState took %s, less than one attempt: no reply was lost, and this test checks nothing", time.Since(start))
	}
	if rev != r1+1 {
		t.Fatalf("PublishState returned revision %d; want %d, the one put after %d", rev, r1+1, r1)
	}
	kv, err := c.writeBucketHandle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "trustlist")
	if err != nil || !bytes.Equal(e.Value(), v2) || e.Revision() != rev {
		t.Fatalf("the bucket holds %q at revision %d (%v); want version 2 at %d, put once", e.Value(), e.Revision(), err, rev)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.LastSeq != rev {
		t.Fatalf("the bucket's stream ends at %d (%v); want %d: a retry put the trust list twice", info.State.LastSeq, err, rev)
	}

	// Published again with its reply lost once more: it is there already.
	if again, err := c.publishState(whole, "trustlist", v2, nil, attempt); err != nil || again != rev {
		t.Fatalf("publishing the same value again = %d, %v; want %d, nothing put", again, err, rev)
	}

	// PutState, as trust publish used, waits for the lost reply until
	// its whole context ends.
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if _, err := c.PutState(short, "440000.keyset", []byte("a keyset")); !errors.Is(err, context.DeadlineExceeded) || short.Err() == nil {
		t.Fatalf("PutState with its reply lost = %v; want it to wait out its whole context", err)
	}
}

// A value another writer stored after PublishState read the key is not
// overwritten: the publication stops, saying so.
func TestPublishStateDoesNotOverwriteAnotherWriter(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := runServer(t)
	c := connectReady(t, s, "")
	r1, err := c.PutState(ctx, "trustlist", []byte("version 1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutState(ctx, "trustlist", []byte("version 2, by another operator")); err != nil {
		t.Fatal(err)
	}
	kv, err := c.writeBucketHandle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := &r1 // as read by an attempt before the other writer's put
	_, err = c.publishStateOnce(ctx, kv, "trustlist", []byte("version 2, ours"), nil, &last)
	if !errors.Is(err, ErrStateChanged) {
		t.Fatalf("publishing over another writer's value = %v; want ErrStateChanged", err)
	}
	e, err := kv.Get(ctx, "trustlist")
	if err != nil || string(e.Value()) != "version 2, by another operator" {
		t.Fatalf("the bucket holds %q (%v); want the other writer's value kept", e.Value(), err)
	}
}

// hcnode trust publish checked its list against the one it read, then
// published expecting the revision PublishState read later: a list
// another operator published in between was replaced by one never
// checked against it. The check now runs inside PublishState, after the
// revision the put expects was read: another operator's publication
// while it runs makes the put fail, and theirs stays.
func TestPublishStateChecksAgainstWhatItReplaces(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := runServer(t)
	c := connectReady(t, s, "")
	if _, err := c.PutState(ctx, "trustlist", []byte("version 1")); err != nil {
		t.Fatal(err)
	}
	checks := 0
	check := func(ctx context.Context) error {
		checks++
		// Checked against version 1; another operator publishes now.
		_, err := c.PutState(ctx, "trustlist", []byte("version 2, by another operator"))
		return err
	}
	_, err := c.PublishState(ctx, "trustlist", []byte("version 2, ours"), check)
	if !errors.Is(err, ErrStateChanged) {
		t.Fatalf("publishing over a value stored while the check ran = %v; want ErrStateChanged", err)
	}
	if checks != 1 {
		t.Fatalf("the check ran %d times; want once", checks)
	}
	kv, err := c.writeBucketHandle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "trustlist"); err != nil || string(e.Value()) != "version 2, by another operator" {
		t.Fatalf("the bucket holds %q (%v); want the other operator's list kept", e.Value(), err)
	}

	// A check's refusal is returned as it is, and nothing is put.
	refused := errors.New("nodes would refuse it")
	if _, err := c.PublishState(ctx, "trustlist", []byte("version 3"), func(context.Context) error { return refused }); err != refused {
		t.Fatalf("PublishState with a refusing check = %v; want the check's error", err)
	}
	if e, err := kv.Get(ctx, "trustlist"); err != nil || string(e.Value()) != "version 2, by another operator" {
		t.Fatalf("after a refused check the bucket holds %q (%v)", e.Value(), err)
	}
}
