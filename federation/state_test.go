package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestWatchStateCatchesUpThenFollows(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	ctx := testCtx(t)
	if _, err := gd.PutState(ctx, "440000.keyset", []byte("gd v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := gd.PutState(ctx, "440000.keyset", []byte("gd v2")); err != nil {
		t.Fatal(err)
	}
	if _, err := gd.PutState(ctx, "440000.contentkey.310000", []byte("grant")); err != nil {
		t.Fatal(err)
	}

	var seen recorder[StateUpdate]
	if err := sh.WatchState(ctx, seen.add); err != nil {
		t.Fatalf("WatchState: %v", err)
	}
	// WatchState has returned: the catch-up pass is complete.
	initial := seen.all()
	if len(initial) != 2 {
		t.Fatalf("catch-up delivered %d values, want the 2 latest: %+v", len(initial), initial)
	}
	byKey := map[string]StateUpdate{}
	for _, u := range initial {
		if !u.Initial {
			t.Errorf("catch-up value %s not marked Initial", u.Key)
		}
		byKey[u.Key] = u
	}
	if u := byKey["440000.keyset"]; string(u.Value) != "gd v2" || u.Topic != (Topic{Kind: KindKeyset, Province: "440000"}) {
		t.Errorf("keyset: %+v", u)
	}
	if u := byKey["440000.contentkey.310000"]; string(u.Value) != "grant" || u.Topic.Peer != "310000" {
		t.Errorf("grant: %+v", u)
	}

	rev, err := gd.PutState(ctx, "440000.heartbeat", []byte("hb"))
	if err != nil {
		t.Fatal(err)
	}
	got := seen.waitLen(t, 3)
	live := got[2]
	if live.Initial || live.Key != "440000.heartbeat" || string(live.Value) != "hb" || live.Revision != rev {
		t.Fatalf("live update %+v (revision want %d)", live, rev)
	}
}

func TestWatchStateStartedBeforeAnyValue(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	var seen recorder[StateUpdate]
	if err := c.WatchState(ctx, seen.add); err != nil {
		t.Fatalf("WatchState on an empty bucket: %v", err)
	}
	if n := len(seen.all()); n != 0 {
		t.Fatalf("empty bucket delivered %d values", n)
	}
	if _, err := c.PutState(ctx, "440000.keyset", []byte("k1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutState(ctx, "440000.keyset", []byte("k2")); err != nil {
		t.Fatal(err)
	}
	got := seen.waitLen(t, 2)
	if string(got[0].Value) != "k1" || string(got[1].Value) != "k2" || got[0].Initial || got[1].Initial {
		t.Fatalf("live updates: %+v", got)
	}
}

func TestWatchStateStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx, cancel := context.WithCancel(testCtx(t))
	var seen recorder[StateUpdate]
	if err := c.WatchState(ctx, seen.add); err != nil {
		t.Fatal(err)
	}
	cancel()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := c.active.Load(); n != 0 {
			return fmt.Errorf("%d goroutines still running", n)
		}
		return nil
	})
	if _, err := c.PutState(testCtx(t), "440000.keyset", []byte("late")); err != nil {
		t.Fatal(err)
	}
	if n := len(seen.all()); n != 0 {
		t.Fatalf("stopped watcher delivered %d values", n)
	}
}

func TestWatchStateSurvivesHandlerPanic(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	var seen recorder[StateUpdate]
	err := c.WatchState(ctx, func(u StateUpdate) {
		if bytes.Equal(u.Value, []byte("boom")) {
			panic("handler bug")
		}
		seen.add(u)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"boom", "fine"} {
		if _, err := c.PutState(ctx, "440000.keyset", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := seen.waitLen(t, 1); string(got[0].Value) != "fine" {
		t.Fatalf("after a panic got %q", got[0].Value)
	}
	if st := c.Stats(); st.HandlerErrors != 1 {
		t.Fatalf("HandlerErrors = %d, want 1", st.HandlerErrors)
	}
}

func TestGetState(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	if _, _, err := c.GetState(ctx, "440000.keyset"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetState of a missing key: %v", err)
	}
	rev, err := c.PutState(ctx, "440000.keyset", []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	v, r, err := c.GetState(ctx, "440000.keyset")
	if err != nil || string(v) != "k" || r != rev {
		t.Fatalf("GetState = %q, %d, %v; want k, %d", v, r, err, rev)
	}
	if _, _, err := c.GetState(ctx, "440000.>"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("GetState of a wildcard: %v", err)
	}
}

func TestPutStateRefusesOtherProvincesAndBadKeys(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	for key, want := range map[string]error{
		"310000.keyset":            ErrForeignProvince,
		"310000.contentkey.440000": ErrForeignProvince,
		"trustlist":                ErrForeignProvince,
		"440000.keyset.x":          ErrInvalidName,
		"440000.*":                 ErrInvalidName,
		"440000.revocations":       ErrInvalidName,
	} {
		if _, err := c.PutState(ctx, key, []byte("x")); !errors.Is(err, want) {
			t.Errorf("PutState(%q) = %v, want %v", key, err, want)
		}
	}
	op := connect(t, s, "")
	if _, err := op.PutState(ctx, "trustlist", []byte("tl")); err != nil {
		t.Fatalf("operator PutState(trustlist): %v", err)
	}
}

// TestOversizedStateIsDroppedAndTheWatchGoesOn shows both limits: the
// server's max_payload (1 MB by default), which refuses a 10 MB put
// before it is sent, and the receiver's own MaxStateLen, under which a
// value that the server accepted is dropped and counted while later
// values still arrive.
func TestOversizedStateIsDroppedAndTheWatchGoesOn(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	const limit = 1024
	watcher := connectReady(t, s, "310000", func(c *ConnConfig) { c.MaxStateLen = limit })
	writer := connectReady(t, s, "440000")
	ctx := testCtx(t)
	var seen recorder[StateUpdate]
	if err := watcher.WatchState(ctx, seen.add); err != nil {
		t.Fatal(err)
	}

	huge := bytes.Repeat([]byte("x"), 10<<20)
	if _, err := writer.PutState(ctx, "440000.keyset", huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("10 MB put with the default limit: %v, want ErrTooLarge", err)
	}
	// A writer whose own limit is above the server's meets the server's.
	lax := connect(t, s, "440000", func(c *ConnConfig) { c.MaxStateLen = 64 << 20 })
	if _, err := lax.PutState(ctx, "440000.keyset", huge); !errors.Is(err, nats.ErrMaxPayload) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("10 MB put past the server's max_payload: %v, want nats.ErrMaxPayload and ErrTooLarge", err)
	}
	if !lax.Connected() {
		t.Fatal("refused put broke the connection")
	}

	if _, err := writer.PutState(ctx, "440000.keyset", bytes.Repeat([]byte("y"), limit+1)); err != nil {
		t.Fatalf("put just over the watcher's limit: %v", err)
	}
	if _, err := writer.PutState(ctx, "440000.keyset", []byte("valid")); err != nil {
		t.Fatal(err)
	}
	got := seen.waitLen(t, 1)
	if len(got) != 1 || string(got[0].Value) != "valid" {
		t.Fatalf("watcher got %d values, last %q", len(got), got[len(got)-1].Value)
	}
	if st := watcher.Stats(); st.StateOversized != 1 || watcher.Dropped() != 1 || st.StateDelivered != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, _, err := watcher.GetState(ctx, "440000.keyset"); err != nil {
		t.Fatalf("GetState of the valid value: %v", err)
	}
}

// TestWatchStateReadsARecreatedBucketFromItsStart: the state bucket is
// deleted and created again empty (an operator's EnsureStreams after a
// lost server's storage). A watcher resumed after the last revision it
// had seen, which the new bucket reaches only after as many puts as the
// old one held, so a peer saw no keyset, grant or heartbeat put since,
// with nothing to say so. Now it reads the new bucket from its start.
func TestWatchStateReadsARecreatedBucketFromItsStart(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	op := connectReady(t, s, "")
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	ctx := testCtx(t)
	var seen recorder[StateUpdate]
	if err := sh.WatchState(ctx, seen.add); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := gd.PutState(ctx, "440000.heartbeat", fmt.Appendf(nil, "old %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	seen.waitLen(t, 5)
	if err := op.js.DeleteKeyValue(ctx, op.bucket); err != nil {
		t.Fatal(err)
	}
	if err := op.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	rev, err := gd.PutState(ctx, "440000.keyset", []byte("new keyset"))
	if err != nil {
		t.Fatal(err)
	}
	// The watcher notices the deleted bucket by missed heartbeats and is
	// restarted with backoff: allow for a loaded machine.
	got := seen.waitLenWithin(t, 6, 30*time.Second)
	if last := got[5]; string(last.Value) != "new keyset" || last.Revision != rev {
		t.Fatalf("after the bucket was created again: %q at revision %d, want \"new keyset\" at %d", last.Value, last.Revision, rev)
	}
}

// TestStateWatcherMadeJustBeforeAReconnectIsRestartedByIt: a watcher
// made (WatchState's first, or a restart's) just before the server
// restarts, and handed to the watch loop only after the connection came
// back, as a loaded machine may schedule it. The server lost the
// watcher's consumer, so the loop must restart it for that reconnect;
// before, it took the reconnect signal only then, waited for the next
// one, and the watcher stayed silent until nats.go missed its
// heartbeats (a member's new trust list unseen for 30 s, once in CI).
// The deadline is well under that heartbeat timeout (2 × 5 s).
func TestStateWatcherMadeJustBeforeAReconnectIsRestartedByIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := runServerWith(t, ServerConfig{StoreDir: dir})
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	if _, err := c.PutState(ctx, "440000.keyset", []byte("before")); err != nil {
		t.Fatal(err)
	}
	kv, err := c.bucketHandle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	born, err := c.streamCreated(ctx, c.bucketStream())
	if err != nil {
		t.Fatal(err)
	}
	var seen recorder[StateUpdate]
	sw := &stateWatch{handler: seen.add, caughtUp: make(chan struct{}), initial: true, born: born, reconnect: c.nextReconnect()}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}

	restartServer(t, s, dir, c)
	c.run(ctx, func(ctx context.Context) { c.watch(ctx, kv, w, sw) })
	if _, err := c.PutState(ctx, "440000.keyset", []byte("after")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		for _, u := range seen.all() {
			if string(u.Value) == "after" {
				return nil
			}
		}
		return fmt.Errorf("the value put after the restart is not seen: %d values so far", len(seen.all()))
	})
}
