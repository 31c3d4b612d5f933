package federation

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// rawJetStream is a plain nats.go client, as anyone who reaches NATS has.
func rawJetStream(t *testing.T, s *Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamHolds reports whether the revocation stream holds raw.
func streamHolds(t *testing.T, c *Conn, raw []byte) bool {
	t.Helper()
	ctx := testCtx(t)
	st, err := c.js.Stream(ctx, c.stream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= st.CachedInfo().State.LastSeq; seq++ {
		if m, err := st.GetMsg(ctx, seq); err == nil && bytes.Equal(m.Data, raw) {
			return true
		}
	}
	return false
}

func TestPublishRevocationIsNotFooledByASquattedMsgID(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	squatter := rawJetStream(t, s)
	subject := revocationSubject(t, "440000")
	squat := func(id string) {
		t.Helper()
		if _, err := squatter.Publish(ctx, subject, []byte("not the revocation"), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}

	// The next "<province>-<seq>", claimed first: the real statement is
	// still stored.
	squat("440000-1")
	real1 := []byte("signed revocation 1")
	if err := c.PublishRevocation(ctx, "440000", 1, real1); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if !streamHolds(t, c, real1) {
		t.Fatal("publish succeeded but the stream does not hold the revocation")
	}

	// Even the statement's own id, claimed first (it cannot be known in
	// advance; here the test cheats): the duplicate ack is not believed.
	real2 := []byte("signed revocation 2")
	squat(revocationMsgID("440000", 2, real2))
	if err := c.PublishRevocation(ctx, "440000", 2, real2); !errors.Is(err, ErrNotStored) {
		t.Fatalf("publish under a squatted id: %v, want ErrNotStored", err)
	}
	// Signed again, the statement has other bytes and another id.
	again := []byte("signed revocation 2, signed again")
	if err := c.PublishRevocation(ctx, "440000", 2, again); err != nil {
		t.Fatal(err)
	}
	if !streamHolds(t, c, again) {
		t.Fatal("the statement signed again is not in the stream")
	}
	// A genuine duplicate (the same bytes again) is still fine.
	if err := c.PublishRevocation(ctx, "440000", 2, again); err != nil {
		t.Fatalf("publishing the same bytes again: %v", err)
	}
}

func revocationSubject(t *testing.T, p string) string {
	t.Helper()
	subject, err := Topic{Kind: KindRevocations, Province: p}.Subject(testFed)
	if err != nil {
		t.Fatal(err)
	}
	return subject
}

func TestPublishRevocationReportsAMissingStreamAndServerSizeRefusal(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	op := connectReady(t, s, "")
	c := connect(t, s, "440000")
	ctx := testCtx(t)
	if err := op.js.DeleteStream(ctx, op.stream); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishRevocation(ctx, "440000", 1, []byte("r1")); !errors.Is(err, ErrStreamMissing) {
		t.Fatalf("publish without a stream: %v, want ErrStreamMissing", err)
	}
	if err := c.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishRevocation(ctx, "440000", 1, []byte("r1")); err != nil {
		t.Fatalf("publish after EnsureStreams recreated the stream: %v", err)
	}
	// A stream whose messages are limited below the statement's size
	// refuses it for good: ErrTooLarge, which an outbox sets aside.
	cfg := op.streamConfig()
	cfg.MaxMsgSize = 1024
	if _, err := op.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishRevocation(ctx, "440000", 2, bytes.Repeat([]byte("x"), 2048)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("publish over the stream's max message size: %v, want ErrTooLarge", err)
	}
}

func TestCloseEndsWhileTheRevocationStreamIsGone(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	op := connectReady(t, s, "")
	reader := connect(t, s, "310000")
	ctx := testCtx(t)
	if err := reader.ConsumeRevocations(ctx, 0, func(RevocationMsg) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := op.js.DeleteStream(ctx, op.stream); err != nil {
		t.Fatal(err)
	}
	// The consumer notices (its consumer was deleted with the stream) and
	// goes on retrying on its own schedule.
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := reader.Stats().Restarts; n == 0 {
			return errors.New("the consumer has not noticed the stream is gone")
		}
		return nil
	})
	closed := make(chan struct{})
	start := time.Now()
	go func() {
		reader.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Logf("closed in %v", time.Since(start))
	case <-time.After(closeWait):
		t.Fatalf("Close still waiting after %v", closeWait)
	}
	if n := reader.active.Load(); n != 0 {
		t.Fatalf("%d goroutines still running after Close", n)
	}
}

func TestConsumerReadsARecreatedStreamFromItsStart(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	op := connectReady(t, s, "")
	gd := connectReady(t, s, "440000")
	reader := connect(t, s, "310000")
	ctx := testCtx(t)
	got, _ := consumeInto(t, reader, 0)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := gd.PublishRevocation(ctx, "440000", seq, fmt.Appendf(nil, "old %d", seq)); err != nil {
			t.Fatal(err)
		}
	}
	got.waitLen(t, 3)
	if err := op.js.DeleteStream(ctx, op.stream); err != nil {
		t.Fatal(err)
	}
	if err := op.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if err := gd.PublishRevocation(ctx, "440000", 4, []byte("new 4")); err != nil {
		t.Fatal(err)
	}
	// The old consumer notices the deleted stream by missed heartbeats
	// (consumerHeartbeat) and is reopened with backoff: allow for a
	// loaded machine.
	msgs := got.waitLenWithin(t, 4, 30*time.Second)
	if last := msgs[3]; string(last.Data) != "new 4" || last.StreamSeq != 1 {
		t.Fatalf("after the stream was created again: %q at stream seq %d, want \"new 4\" at 1", last.Data, last.StreamSeq)
	}
}
