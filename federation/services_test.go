package federation

import (
	"fmt"
	"log/slog"
	"strings"
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

// A flood of lookups while the handler is busy: the subscription holds
// servicePendingMsgs of them and drops the rest, counted as the lookups'
// and logged once; meanwhile the connection stays up and a revocation
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

	// The handler holds the first lookup; the subscription holds
	// servicePendingMsgs more (one more if the first was not yet taken
	// when they came) and drops the rest.
	const n = 4 * servicePendingMsgs
	lookups := "hcfed.demo." + sh + ".lookup." + gd
	flood(t, s, lookups, n)
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if d, c := gdc.Stats().RequestsDropped.Lookups, g.calls[serviceLookups].Load(); d < n-1-servicePendingMsgs || c != 1 {
			return fmt.Errorf("lookups dropped %d, handled %d; want at least %d dropped, 1 handled", d, c, n-1-servicePendingMsgs)
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
	if c := g.calls[serviceLookups].Load(); c > 1+servicePendingMsgs+1 {
		t.Fatalf("the handler was called %d times for a flood of %d: more than the subscription may hold", c, n)
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
		if d.Lookups < before+n-2-servicePendingMsgs || d.Receipts < n-1-servicePendingMsgs {
			return fmt.Errorf("dropped %+v, %d lookups before", d, before)
		}
		if !strings.Contains(logs.String(), "service=receipts") {
			return fmt.Errorf("no log line about receipts yet")
		}
		return nil
	})
	if got := strings.Count(logs.String(), "service=lookups"); got != 1 {
		t.Fatalf("%d log lines about dropped lookups, want 1:\n%s", got, logs.String())
	}
	if d := gdc.Stats().RequestsDropped; d.SnapshotRequests != 0 || d.Serve != 0 {
		t.Fatalf("drops counted for services not flooded: %+v", d)
	}
}
