package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/trust"
)

// reconnectStaleLimit is how long the trust of the nodes in the reconnect
// tests stays usable without a sync; their clocks jump past it while they
// are off NATS.
const reconnectStaleLimit = time.Minute

// offlineNode is province 310000's Sync, linked to NATS through a proxy
// the test can cut, on a clock the test can move on.
type offlineNode struct {
	*syncUnderTest
	link  *linkProxy
	ahead atomic.Int64 // how far the Sync's clock is ahead of the real one
	logs  *testkit.Buffer
}

func (n *offlineNode) now() time.Time { return time.Now().Add(time.Duration(n.ahead.Load())) }

// stale reports whether n's trust is past its staleness limit.
func (n *offlineNode) stale() bool {
	after := n.state.Snapshot().StaleAfter
	return !after.IsZero() && n.now().After(after)
}

// startOfflineNode runs 310000's Sync over a link proxy to s, marking
// its State synced every few milliseconds while it may, and waits until
// it is ready.
func startOfflineNode(t *testing.T, f *fixture, s *Server) *offlineNode {
	t.Helper()
	n := &offlineNode{link: newLinkProxy(t, s), logs: &testkit.Buffer{}}
	st, err := trust.NewState(trust.StateConfig{Self: sh, EncKey: f.p(sh).enc, PinnedSHA256: f.pinnedSHA256(),
		StaleLimit: reconnectStaleLimit})
	if err != nil {
		t.Fatal(err)
	}
	c := connectReady(t, s, sh, func(c *ConnConfig) { c.URLs = []string{n.link.URL()} })
	n.syncUnderTest = f.newSync(c, sh, func(c *SyncConfig) {
		c.State, c.Now, c.SyncInterval = st, n.now, 10*time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(n.logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}).run(t)
	n.waitReady(t)
	return n
}

// startWithOfflineNode starts a server, 440000 publishing (see
// guangdongPublishing) and its delta 1, and 310000 as an offlineNode
// that has applied them; it returns 440000's connection.
func startWithOfflineNode(t *testing.T) (*fixture, *Conn, *offlineNode) {
	t.Helper()
	f, s, gdc := guangdongPublishing(t)
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	n := startOfflineNode(t, f, s)
	waitRevSeq(t, n.state, gd, 1)
	return f, gdc, n
}

// goOffline cuts n's link, waits until its connection noticed, and moves
// its clock on past the staleness limit.
func (n *offlineNode) goOffline(t *testing.T) {
	t.Helper()
	n.link.cut()
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n.conn.Connected() {
			return errors.New("still connected")
		}
		return nil
	})
	n.ahead.Add(int64(2 * reconnectStaleLimit))
	if !n.stale() {
		t.Fatalf("trust not stale after the outage: stale after %v, now %v", n.state.Snapshot().StaleAfter, n.now())
	}
	if err := n.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready while off NATS: %v", err)
	}
}

// comeBack restores n's link and waits until its connection is up again.
func (n *offlineNode) comeBack(t *testing.T) {
	t.Helper()
	reconnects := n.conn.Stats().Reconnects
	n.link.restore()
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if st := n.conn.Stats(); !n.conn.Connected() || st.Reconnects == reconnects {
			return fmt.Errorf("connected %v, stats %+v", n.conn.Connected(), st)
		}
		return nil
	})
}

// TestSyncNotYetCaughtUpOnceSaysItsInitialCatchUpIsNotDone: a Sync
// connected but not yet caught up once (here: not yet run) is not Ready
// with ErrInitialCatchUp, which the node's readiness check reads, as it
// reads ErrCatchingUp, as held back by an unavailable revocation stream
// when the stream is: a node whose first catch-up was cut off by a lost
// JetStream quorum said only "initial catch-up not done" for as long as
// the quorum was lost.
func TestSyncNotYetCaughtUpOnceSaysItsInitialCatchUpIsNotDone(t *testing.T) {
	t.Parallel()
	f, s, _ := guangdongPublishing(t)
	u := f.newSync(connectReady(t, s, sh), sh)
	if err := u.Ready(); !errors.Is(err, ErrInitialCatchUp) || !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready before the first catch-up: %v, want %v (wrapping %v)", err, ErrInitialCatchUp, ErrNotReady)
	}
}

// TestSyncIsNotSyncedAfterReconnectUntilItsBacklogIsApplied takes a node
// off NATS long enough for its trust to go stale, while 440000 publishes
// a backlog of revocations and a new keyset. Back on NATS, the node must
// keep answering trust_stale, and not be Ready, until it has applied all
// that was published before it came back: a revoked code must not verify
// as good from a node that says its trust is current.
func TestSyncIsNotSyncedAfterReconnectUntilItsBacklogIsApplied(t *testing.T) {
	t.Parallel()
	f, gdc, n := startWithOfflineNode(t)

	n.goOffline(t)
	const last = 201 // the backlog: deltas 2..last
	for seq := uint64(2); seq <= last; seq++ {
		publishRev(t, gdc, gd, seq, f.revocation(gd, seq))
	}
	put(t, gdc, "440000.keyset", f.keyset(gd, 2))

	// Holding the Sync's lock, nothing of the backlog can be applied
	// while the node comes back: it must not call itself synced.
	n.mu.Lock()
	n.comeBack(t)
	_, marked := n.syncTick() // what markSynced does every SyncInterval
	ready := n.Ready()
	stale := n.stale()
	n.mu.Unlock()
	if marked || !stale {
		t.Errorf("marked synced (%v; stale %v) on reconnect before the backlog was applied", marked, stale)
	}
	if !errors.Is(ready, ErrCatchingUp) {
		t.Errorf("Ready on reconnect before the backlog was applied: %v, want %v", ready, ErrCatchingUp)
	}

	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		seq := n.state.RevocationSeq(gd)
		if !n.stale() && seq < last {
			t.Fatalf("synced again with revocations up to %d of %d applied", seq, last)
		}
		if err := n.Ready(); err != nil {
			return err
		}
		if seq = n.state.RevocationSeq(gd); seq != last {
			t.Fatalf("Ready with revocations up to %d of %d applied", seq, last)
		}
		return nil
	})
	if ks := n.state.Keyset(gd); ks == nil || ks.Version != 2 {
		t.Errorf("Ready without the keyset published during the outage: %+v", ks)
	}
	if n.stale() {
		t.Error("caught up but still stale")
	}
	if got := strings.Count(n.logs.String(), "federation sync caught up again"); got != 1 {
		t.Errorf("%d lines say caught up again, want 1:\n%s", got, n.logs)
	}
	if line := lineWith(n.logs.String(), "federation sync caught up again"); !strings.Contains(line, "applied=") || !strings.Contains(line, "took=") {
		t.Errorf("caught-up line without what was applied and how long it took: %s", line)
	}
}

// TestSyncWithNoBacklogIsSyncedPromptlyAfterReconnect: a node that
// missed nothing while off NATS is synced again as soon as it is back,
// though no message arrives to tell it so.
func TestSyncWithNoBacklogIsSyncedPromptlyAfterReconnect(t *testing.T) {
	t.Parallel()
	_, _, n := startWithOfflineNode(t)

	for range 2 {
		n.goOffline(t)
		n.comeBack(t)
		checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			if n.stale() {
				return errors.New("still stale")
			}
			return n.Ready()
		})
	}
	if got := strings.Count(n.logs.String(), "federation sync caught up again"); got != 2 {
		t.Errorf("%d lines say caught up again, want 2:\n%s", got, n.logs)
	}
}

// waitRevSeq waits until st holds p's revocations up to seq.
func waitRevSeq(t testing.TB, st *trust.State, p string, seq uint64) {
	t.Helper()
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := st.RevocationSeq(p); got < seq {
			return fmt.Errorf("revocations of %s up to %d, want %d", p, got, seq)
		}
		return nil
	})
}

// lineWith is the first line of logs that contains s.
func lineWith(logs, s string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestCaughtUpLogsHowLongItTookAsADuration: the JSON log of the first
// catch-up gives took as a duration ("103ms"), as the node's other log
// lines do, not a number of nanoseconds.
func TestCaughtUpLogsHowLongItTookAsADuration(t *testing.T) {
	f, s, _ := guangdongPublishing(t)
	logs := &testkit.Buffer{}
	u := f.newSync(connectReady(t, s, sh), sh, func(c *SyncConfig) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}).run(t)
	u.waitReady(t)
	line := lineWith(logs.String(), `"federation sync caught up"`)
	var rec struct {
		Took any `json:"took"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("caught-up log line %q: %v", line, err)
	}
	took, ok := rec.Took.(string)
	if d, err := time.ParseDuration(took); !ok || err != nil || d < 0 {
		t.Fatalf("took = %#v in %q, want a duration such as \"103ms\"", rec.Took, line)
	}
}
