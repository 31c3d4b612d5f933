package federation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/internal/testkit"
)

// floodGate holds a service handler until released, and counts its calls.
type floodGate struct {
	gate  atomic.Pointer[chan struct{}]
	calls [numServices]atomic.Int64
}

// hold makes the next calls wait until the returned func releases them.
func (g *floodGate) hold() (release func()) {
	ch := make(chan struct{})
	g.gate.Store(&ch)
	return func() { close(ch) }
}

func (g *floodGate) wait(svc service) {
	g.calls[svc].Add(1)
	<-*g.gate.Load()
}

// flood publishes n requests of 1 kB on subject from a bare connection,
// as any member could, and waits until the server has them.
func flood(t *testing.T, s *Server, subject string, n int) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := make([]byte, 1<<10)
	for range n {
		if err := nc.Publish(subject, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A flood of lookups while the handler is busy: its sender's queue holds
// senderPendingMsgs of them and drops the rest, counted as the lookups'
// and logged once, naming the sender; meanwhile the connection stays up and a revocation
// published during the flood arrives. Once the handler is free it works
// through what was held, not the whole flood, and answers a genuine
// lookup. A second flood, and a flood of receipts, log nothing more for
// lookups within serviceDropLogEvery and one line for receipts.
func TestServiceFloodDropsBeyondItsQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	var logs testkit.Buffer
	gdc := connectReady(t, s, gd, func(c *ConnConfig) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	shc := connect(t, s, sh)
	ctx := testCtx(t)
	var g floodGate
	release := g.hold()
	if err := gdc.ServeLookups(ctx, func(asker string, req []byte) []byte {
		g.wait(serviceLookups)
		return []byte("answer")
	}); err != nil {
		t.Fatal(err)
	}
	if err := gdc.ServeReceipts(ctx, func(from string, raw []byte) []byte {
		g.wait(serviceReceipts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	revs := consumedSeqs(t, ctx, gdc)

	// The handler holds the first lookup; sh's queue holds
	// senderPendingMsgs more (one more if the first was not yet taken
	// when they came) and drops the rest.
	const n = 4 * servicePendingMsgs
	lookups := "hcfed.demo." + sh + ".lookup." + gd
	flood(t, s, lookups, n)
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if d, c := gdc.Stats().RequestsDropped.Lookups, g.calls[serviceLookups].Load(); d < n-1-senderPendingMsgs || c != 1 {
			return fmt.Errorf("lookups dropped %d, handled %d; want at least %d dropped, 1 handled", d, c, n-1-senderPendingMsgs)
		}
		return nil
	})
	publishRev(t, shc, sh, 1, f.revocation(sh, 1))
	revs.waitLen(t, 1)
	if st := gdc.Stats(); !gdc.Connected() || st.Disconnects != 0 {
		t.Fatalf("connected %v, stats %+v: the flood cut the connection", gdc.Connected(), st)
	}

	release()
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if d, c := gdc.Stats().RequestsDropped.Lookups, g.calls[serviceLookups].Load(); d+uint64(c) != n {
			return fmt.Errorf("lookups dropped %d, handled %d; want %d in all", d, c, n)
		}
		return nil
	})
	if c := g.calls[serviceLookups].Load(); c > 1+senderPendingMsgs+1 {
		t.Fatalf("the handler was called %d times for a flood of %d: more than its sender's queue may hold", c, n)
	}
	reply, err := shc.RequestLookup(ctx, gd, []byte("q"), func([]byte) error { return nil })
	if err != nil || string(reply) != "answer" {
		t.Fatalf("lookup after the flood = %q, %v", reply, err)
	}

	// Drops of the same service are logged once a serviceDropLogEvery;
	// nats.go reports them in order, so once the receipts' line is there
	// the second lookups flood has been reported too.
	before := gdc.Stats().RequestsDropped.Lookups
	release = g.hold()
	defer release()
	flood(t, s, lookups, n)
	flood(t, s, "hcfed.demo."+sh+".receipts."+gd, n)
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		d := gdc.Stats().RequestsDropped
		if d.Lookups < before+n-2-senderPendingMsgs || d.Receipts < n-1-senderPendingMsgs {
			return fmt.Errorf("dropped %+v, %d lookups before", d, before)
		}
		if !strings.Contains(logs.String(), "service=receipts") {
			return fmt.Errorf("no log line about receipts yet")
		}
		return nil
	})
	// One line for the senders' queues, naming the flooder, and at most
	// one for nats.go's queue, which a flood outrunning the sorting
	// fills first (it cannot name the sender); each once a minute.
	if got := strings.Count(logs.String(), "service=lookups from="+sh); got != 1 {
		t.Fatalf("%d log lines about lookups dropped by the sender's queue, want 1, naming %s:\n%s", got, sh, logs.String())
	}
	if got := strings.Count(logs.String(), "service=lookups subject="); got > 1 {
		t.Fatalf("%d log lines about lookups dropped by the subscription's queue, want at most 1:\n%s", got, logs.String())
	}
	if d := gdc.Stats().RequestsDropped; d.SnapshotRequests != 0 || d.Serve != 0 {
		t.Fatalf("drops counted for services not flooded: %+v", d)
	}
}

// A member that floods lookups while the handler is busy fills only its
// own queue: another member's lookups, sent once the flood has reached
// the node, are all answered when the handler is free, and only the
// flooder's are dropped and counted.
func TestServiceFloodOfOneSenderLeavesOthersServed(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gdc := connect(t, s, gd, func(c *ConnConfig) { c.ServicesConn = true })
	bjc := connect(t, s, bj)
	ctx := testCtx(t)
	var g floodGate
	release := sync.OnceFunc(g.hold())
	defer release()
	var fromBJ atomic.Int64
	if err := gdc.ServeLookups(ctx, func(asker string, req []byte) []byte {
		if asker == bj {
			fromBJ.Add(1)
			return append([]byte("answer "), req...)
		}
		g.wait(serviceLookups)
		return []byte("answer")
	}); err != nil {
		t.Fatal(err)
	}
	delivered := func() uint64 { return gdc.svc.Stats().InMsgs }
	base := delivered()

	// sh floods; the handler holds its first lookup.
	const n = 4 * servicePendingMsgs
	flood(t, s, "hcfed.demo."+sh+".lookup."+gd, n)
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if got := delivered(); got < base+n {
			return fmt.Errorf("%d of the flood's %d lookups reached the node", got-base, n)
		}
		return nil
	})

	// bj asks a few while the flood is held; they reach the node before
	// the handler is free.
	const few = 5
	type answer struct {
		q, reply string
		err      error
	}
	answers := make(chan answer, few)
	for i := range few {
		go func() {
			q := fmt.Sprintf("q%d", i)
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			reply, err := bjc.RequestLookup(rctx, gd, []byte(q), func([]byte) error { return nil })
			answers <- answer{q, string(reply), err}
		}()
	}
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if got := delivered(); got < base+n+few {
			return fmt.Errorf("%d of bj's %d lookups reached the node", got-base-n, few)
		}
		return nil
	})
	release()
	for range few {
		a := <-answers
		if a.err != nil || a.reply != "answer "+a.q {
			t.Errorf("bj's lookup %s during sh's flood = %q, %v; want it answered", a.q, a.reply, a.err)
		}
	}
	if got := fromBJ.Load(); got != few {
		t.Errorf("the handler saw %d of bj's %d lookups", got, few)
	}
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if d, c := gdc.Stats().RequestsDropped.Lookups, g.calls[serviceLookups].Load(); d+uint64(c) != n {
			return fmt.Errorf("lookups dropped %d, sh's handled %d; want %d in all, all sh's", d, c, n)
		}
		return nil
	})
	if c := g.calls[serviceLookups].Load(); c > 1+senderPendingMsgs+1 {
		t.Fatalf("the handler was called %d times for sh's flood of %d: more than its queue holds", c, n)
	}
}
