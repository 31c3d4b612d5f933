package federation

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// A revocation stream deleted and created again (an operator's mistake,
// or anyone with the rights to) numbers its messages afresh. A cursor
// saved in the old stream's numbers must not be read in the new one's:
// the new stream's first messages would be taken as handled, the node
// would call itself caught up at once and go on answering ok for codes
// those messages revoke. These tests delete and recreate the stream on
// a real JetStream server and publish below the saved cursor.

// recreateStream deletes the shared revocation stream and creates it
// again, empty, through an operator connection to s.
func recreateStream(t *testing.T, s *Server) {
	t.Helper()
	op := connectReady(t, s, "")
	ctx := testCtx(t)
	if err := op.js.DeleteStream(ctx, op.stream); err != nil {
		t.Fatal(err)
	}
	if err := op.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
}

// bufLogger logs at info level and above to buf and to the test.
func bufLogger(t *testing.T, buf *testkit.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// publishRevs publishes p's deltas from..to through c.
func (f *fixture) publishRevs(t *testing.T, c *Conn, p string, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		publishRev(t, c, p, seq, f.revocation(p, seq))
	}
}

// waitReadyHolding waits until u is Ready, failing if it is Ready before
// it holds p's revocations up to seq.
func waitReadyHolding(t *testing.T, u *syncUnderTest, p string, seq uint64) {
	t.Helper()
	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		held := u.state.RevocationSeq(p)
		if err := u.Ready(); err != nil {
			return err
		}
		if held < seq && u.state.RevocationSeq(p) < seq {
			t.Fatalf("Ready holding revocations of %s up to %d, want %d", p, held, seq)
		}
		return nil
	})
	if err := revokedThrough(u.state, p, int(seq)); err != nil {
		t.Fatal(err)
	}
}

// A node stopped while the stream is recreated, and restarted once the
// new stream has grown as long as the old one was, reads the new stream
// from its start: not from its old cursor, where the new stream's first
// deltas would have been skipped and the node Ready at once without them.
func TestSyncRestartedOnARecreatedStreamReadsItFromItsStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, gdc := f.gdAtDelta1(t)
	f.publishRevs(t, gdc, gd, 2, 5)
	u := f.newSync(connectReady(t, s, sh), sh).run(t)
	u.waitReady(t)
	waitRevSeq(t, u.state, gd, 5)
	u.stop()
	if got := cursorOf(t, u.cache); got != 5 {
		t.Fatalf("cursor %d saved, want 5", got)
	}

	recreateStream(t, s)
	f.publishRevs(t, gdc, gd, 6, 10) // stream seqs 1..5: at and below the cursor
	logs := &testkit.Buffer{}
	again := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Cache, c.Logger = u.cache, bufLogger(t, logs) })
	if err := again.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	again.run(t)
	waitReadyHolding(t, again, gd, 10)
	line := lineWith(logs.String(), "created again")
	if !strings.Contains(line, "cursor=5") || !strings.Contains(line, "stream_last=5") {
		t.Errorf("recreation not logged with the cursor and the stream's last seq: %q", line)
	}
	if got := again.StreamRecreations(); got != 1 {
		t.Errorf("%d recreations counted, want 1", got)
	}
}

// A node running while the stream is recreated reads the new stream, and
// saves its cursor in the new stream's numbers: restarted once the new
// stream has grown past the old cursor, it misses none of its deltas.
func TestSyncThatSawTheStreamRecreatedSavesItsCursorInTheNewStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, gdc := f.gdAtDelta1(t)
	f.publishRevs(t, gdc, gd, 2, 5)
	logs := &testkit.Buffer{}
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Logger = bufLogger(t, logs) }).run(t)
	u.waitReady(t)
	waitRevSeq(t, u.state, gd, 5)

	recreateStream(t, s)
	publishRev(t, gdc, gd, 6, f.revocation(gd, 6)) // stream seq 1
	// Within streamCheckEvery the consumer reads the new stream.
	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 6) })
	waitReadyHolding(t, u, gd, 6)
	if got := u.StreamRecreations(); got != 1 {
		t.Errorf("%d recreations counted, want 1", got)
	}
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := cursorOf(t, u.cache); got != 1 {
			return fmt.Errorf("cursor %d saved, want 1 in the new stream's numbers", got)
		}
		return nil
	})
	if n := strings.Count(logs.String(), "created again"); n != 1 {
		t.Errorf("recreation logged %d times, want once:\n%s", n, logs)
	}
	u.stop()

	f.publishRevs(t, gdc, gd, 7, 11) // stream seqs 2..6: past the old cursor
	again := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Cache = u.cache })
	if err := again.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	again.run(t)
	waitReadyHolding(t, again, gd, 11)
}

// A node off NATS while the stream is recreated is not caught up when it
// comes back until it has read the new stream: its handled position, in
// the old stream's numbers, says nothing of the new one.
func TestSyncBackOnARecreatedStreamIsNotCaughtUpUntilItReadIt(t *testing.T) {
	t.Parallel()
	f, s, gdc := guangdongPublishing(t)
	f.publishRevs(t, gdc, gd, 1, 5)
	n := startOfflineNode(t, f, s)
	waitRevSeq(t, n.state, gd, 5)

	n.goOffline(t)
	recreateStream(t, s)
	f.publishRevs(t, gdc, gd, 6, 8) // stream seqs 1..3, below the 5 handled
	n.comeBack(t)
	waitReadyHolding(t, n.syncUnderTest, gd, 8)
	if n.stale() {
		t.Error("caught up but still stale")
	}
}

// A Sync keeping no cache reads a recreated stream as well.
func TestSyncWithoutCacheReadsARecreatedStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, gdc := f.gdAtDelta1(t)
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) { c.Cache = nil }).run(t)
	u.waitReady(t)
	waitRevSeq(t, u.state, gd, 1)
	recreateStream(t, s)
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 2) })
	waitReadyHolding(t, u, gd, 2)
	if got := u.StreamRecreations(); got != 1 {
		t.Errorf("%d recreations counted, want 1", got)
	}
}
