package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// streamMsgs is how many messages the revocation stream holds.
func streamMsgs(t *testing.T, c *Conn) uint64 {
	t.Helper()
	st, err := c.js.Stream(testCtx(t), c.stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

func TestPublishRevocationAcksAndDedupes(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	if err := c.PublishRevocation(ctx, "440000", 1, []byte("rev 1")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := c.PublishRevocation(ctx, "440000", 1, []byte("rev 1")); err != nil {
		t.Fatalf("publish again (outbox replay): %v", err)
	}
	if n := streamMsgs(t, c); n != 1 {
		t.Fatalf("stream holds %d messages after a duplicate, want 1", n)
	}
	if err := c.PublishRevocation(ctx, "440000", 2, []byte("rev 2")); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, c); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

func TestPublishRevocationRefusesOtherProvincesAndBadIDs(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	c := connectReady(t, s, "440000")
	ctx := testCtx(t)
	if err := c.PublishRevocation(ctx, "310000", 1, []byte("x")); !errors.Is(err, ErrForeignProvince) {
		t.Errorf("publishing for another province: %v", err)
	}
	for _, p := range []string{"*", ">", "440000.x", "44000"} {
		if err := c.PublishRevocation(ctx, p, 1, []byte("x")); !errors.Is(err, ErrInvalidName) {
			t.Errorf("PublishRevocation(%q): %v", p, err)
		}
	}
	if err := c.PublishRevocation(ctx, "440000", 1, bytes.Repeat([]byte("x"), 10<<20)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("10 MB revocation: %v", err)
	}
}

// consumeInto starts a consumer from stream sequence from that records
// what it is given; cancel stops it.
func consumeInto(t *testing.T, c *Conn, from uint64) (*recorder[RevocationMsg], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	var got recorder[RevocationMsg]
	if err := c.ConsumeRevocations(ctx, from, func(m RevocationMsg) error { got.add(m); return nil }); err != nil {
		t.Fatalf("ConsumeRevocations: %v", err)
	}
	return &got, cancel
}

func TestConsumeRevocationsInOrderAndResumes(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	reader := connectReady(t, s, "110000")
	ctx := testCtx(t)
	publish := func(c *Conn, seq uint64) {
		t.Helper()
		if err := c.PublishRevocation(ctx, c.Province(), seq, fmt.Appendf(nil, "%s/%d", c.Province(), seq)); err != nil {
			t.Fatal(err)
		}
	}
	publish(gd, 1)
	publish(sh, 1)
	publish(gd, 2)

	first, stop := consumeInto(t, reader, 0)
	publish(sh, 2)
	got := first.waitLen(t, 4)
	want := []string{"440000/1", "310000/1", "440000/2", "310000/2"}
	for i, m := range got {
		if m.StreamSeq != uint64(i+1) || string(m.Data) != want[i] || m.Province != want[i][:6] || m.MsgID != revocationMsgID(want[i][:6], uint64(want[i][7]-'0'), m.Data) {
			t.Errorf("message %d: %+v, want %s at stream seq %d", i, m, want[i], i+1)
		}
	}
	if got[3].Pending != 0 {
		t.Errorf("last message says %d pending", got[3].Pending)
	}
	stop()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := reader.active.Load(); n != 0 {
			return fmt.Errorf("%d goroutines still running", n)
		}
		return nil
	})

	// While the reader is away, more deltas arrive; it resumes after the
	// last stream sequence it applied.
	publish(gd, 3)
	publish(sh, 3)
	last := got[len(got)-1].StreamSeq
	resumed, _ := consumeInto(t, reader, last+1)
	got = resumed.waitLen(t, 2)
	if len(got) != 2 || got[0].StreamSeq != last+1 || string(got[0].Data) != "440000/3" || string(got[1].Data) != "310000/3" {
		t.Fatalf("resumed consumer got %+v", got)
	}
}

func TestConsumeRevocationsDropsOversizedAndSurvivesHandlerErrors(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	const limit = 1024
	writer := connectReady(t, s, "440000")
	reader := connectReady(t, s, "310000", func(c *ConnConfig) { c.MaxRevocationLen = limit })
	ctx := testCtx(t)
	var got recorder[RevocationMsg]
	err := reader.ConsumeRevocations(ctx, 0, func(m RevocationMsg) error {
		got.add(m)
		if string(m.Data) == "bad" {
			return errors.New("does not verify")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq, data := range [][]byte{bytes.Repeat([]byte("x"), limit+1), []byte("bad"), []byte("good")} {
		if err := writer.PublishRevocation(ctx, "440000", uint64(seq+1), data); err != nil {
			t.Fatal(err)
		}
	}
	// The oversized message is handed on without its bytes, marked
	// Dropped, so the handler knows the stream went past it.
	msgs := got.waitLen(t, 3)
	if !msgs[0].Dropped || msgs[0].Data != nil || msgs[0].StreamSeq != 1 {
		t.Fatalf("oversized message delivered as %+v", msgs[0])
	}
	if msgs[1].Dropped || string(msgs[1].Data) != "bad" || msgs[2].Dropped || string(msgs[2].Data) != "good" || msgs[2].StreamSeq != 3 {
		t.Fatalf("delivered %+v", msgs)
	}
	if st := reader.Stats(); st.RevocationsOversized != 1 || st.HandlerErrors != 1 || st.RevocationsDelivered != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConsumeRevocationsKeepsUpWithABurst consumes while thousands of
// deltas are published at once. With a pull batch of 64 messages the
// ordered consumer used to stall for two heartbeats (~10 s under -race)
// every few runs.
func TestConsumeRevocationsKeepsUpWithABurst(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	writer := connectReady(t, s, "440000")
	reader := connectReady(t, s, "310000")
	got, _ := consumeInto(t, reader, 0)
	raws := make([][]byte, 4000)
	for i := range raws {
		raws[i] = append(fmt.Appendf(nil, "delta %d ", i), bytes.Repeat([]byte("x"), 500)...)
	}
	publishDeltas(t, writer, "440000", 1, raws)
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := len(got.all()); n != len(raws) {
			return fmt.Errorf("%d of %d delivered", n, len(raws))
		}
		return nil
	})
}
