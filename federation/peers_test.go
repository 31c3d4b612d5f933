package federation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestPeerMessageNames(t *testing.T) {
	t.Parallel()
	for topic, want := range map[Topic]string{
		{Kind: KindLookup, Province: "310000", Peer: "440000"}:   "hcfed.demo.310000.lookup.440000",
		{Kind: KindReceipts, Province: "310000", Peer: "440000"}: "hcfed.demo.310000.receipts.440000",
	} {
		got, err := topic.Subject(testFed)
		if err != nil || got != want {
			t.Errorf("%v.Subject = %q, %v; want %q", topic, got, err, want)
		}
		if back, err := ParseSubject(testFed, want); err != nil || back != topic {
			t.Errorf("ParseSubject(%q) = %+v, %v", want, back, err)
		}
		if key, err := topic.Key(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%v has a state key %q", topic, key)
		}
		if err := (Topic{Kind: topic.Kind, Province: "310000"}).Validate(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%s without the province addressed: %v", topic.Kind, err)
		}
	}
}

// A lookup reaches the home node with the asker named by the subject, and
// the asker takes the first reply it accepts: a rogue member answering
// first on the asker's inbox does not shadow the home node's answer.
func TestRequestLookupSkipsRepliesItDoesNotAccept(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connect(t, s, "440000")
	sh := connect(t, s, "310000")
	ctx := testCtx(t)
	var askers recorder[string]
	rogueAnswered := make(chan struct{})
	if err := gd.ServeLookups(ctx, func(asker string, req []byte) []byte {
		askers.add(asker)
		select { // the home node answers only after the rogue has
		case <-rogueAnswered:
		case <-time.After(10 * time.Second):
		}
		return append([]byte("answer to "), req...)
	}); err != nil {
		t.Fatal(err)
	}
	rogue, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	if _, err := rogue.Subscribe("hcfed.demo.*.lookup.440000", func(m *nats.Msg) {
		_ = m.Respond([]byte("forged"))
		_ = rogue.Flush()
		close(rogueAnswered)
	}); err != nil {
		t.Fatal(err)
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	var refused []string
	reply, err := sh.RequestLookup(ctx, "440000", []byte("q1"), func(b []byte) error {
		if string(b) != "answer to q1" {
			refused = append(refused, string(b))
			return errors.New("not the answer")
		}
		return nil
	})
	if err != nil || string(reply) != "answer to q1" {
		t.Fatalf("RequestLookup = %q, %v", reply, err)
	}
	if len(refused) != 1 || refused[0] != "forged" {
		t.Fatalf("replies refused: %q", refused)
	}
	if got := askers.all(); len(got) != 1 || got[0] != "310000" {
		t.Fatalf("home saw askers %q", got)
	}
}

func TestRequestLookupWithoutHomeFailsFast(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	sh := connect(t, s, "310000")
	start := time.Now()
	_, err := sh.RequestLookup(testCtx(t), "440000", []byte("q"), func([]byte) error { return nil })
	if !errors.Is(err, ErrNoResponders) || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("RequestLookup with nobody serving: %v, want ErrNoResponders", err)
	}
	// Far below testCtx's 20 s, which a request waiting for an answer
	// would run into; wide enough for a loaded machine.
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("took %v: it waited instead of failing on no responders", took)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	gd := connect(t, s, "440000")
	if err := gd.ServeLookups(testCtx(t), func(string, []byte) []byte { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.RequestLookup(ctx, "440000", []byte("q"), func([]byte) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RequestLookup to a home that stays silent: %v", err)
	}
	operator := connect(t, s, "")
	if _, err := operator.RequestLookup(testCtx(t), "440000", nil, nil); err == nil {
		t.Fatal("a connection for no province sent a lookup")
	}
	if err := operator.ServeLookups(testCtx(t), nil); err == nil {
		t.Fatal("a connection for no province served lookups")
	}
}

func TestReceiptsReachTheHomeNodeWithTheSenderNamed(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connect(t, s, "440000")
	sh := connect(t, s, "310000")
	type got struct{ from, body string }
	var seen recorder[got]
	if err := gd.ServeReceipts(testCtx(t), func(from string, raw []byte) []byte { seen.add(got{from, string(raw)}); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := sh.PublishReceipts(testCtx(t), "440000", []byte("r1")); err != nil {
		t.Fatal(err)
	}
	if err := sh.PublishReceipts(testCtx(t), "440000", make([]byte, maxReceiptLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized receipt: %v", err)
	}
	if all := seen.waitLen(t, 1); all[0] != (got{"310000", "r1"}) {
		t.Fatalf("home received %+v", all)
	}
}

// TestDemoConfigAllowsLookupsAndReceipts checks the shipped permissions:
// a province asks another under its own name and gets the answer on its
// own inbox, and the server refuses a lookup sent under another
// province's name.
func TestDemoConfigAllowsLookupsAndReceipts(t *testing.T) {
	s, pw := startDemoConfig(t)
	ctx := testCtx(t)
	// As nodes do: the services (and their replies) on a connection of
	// their own, whose reply rights are those of what it received.
	services := func(c *ConnConfig) { c.ServicesConn = true }
	gd := connect(t, s, "440000", asUser("440000", pw["440000"]), services)
	sh := connect(t, s, "310000", asUser("310000", pw["310000"]), services)
	if err := gd.ServeLookups(ctx, func(asker string, req []byte) []byte { return []byte("to " + asker) }); err != nil {
		t.Fatal(err)
	}
	receipts := make(chan string, 1)
	if err := gd.ServeReceipts(ctx, ackingErasures(receipts)); err != nil {
		t.Fatal(err)
	}
	reply, err := sh.RequestLookup(ctx, "440000", []byte("q"), func([]byte) error { return nil })
	if err != nil || string(reply) != "to 310000" {
		t.Fatalf("310000 asks 440000: %q, %v", reply, err)
	}
	if err := sh.PublishReceipts(ctx, "440000", []byte("r")); err != nil {
		t.Fatal(err)
	}
	if from := <-receipts; from != "310000" {
		t.Fatalf("receipt from %q", from)
	}
	if reply, err := sh.RequestErasure(ctx, "440000", []byte("e"), func([]byte) error { return nil }); err != nil || string(reply) != "ack to 310000" {
		t.Fatalf("310000 sends 440000 an erasure: %q, %v", reply, err)
	}
	// 110000's user, without the local check, tries 310000's name.
	rogue := connect(t, s, "", asUser("110000", pw["110000"]), func(c *ConnConfig) { c.InboxPrefix = "_INBOX_110000" })
	if err := rogue.nc.PublishRequest("hcfed.demo.310000.lookup.440000", "_INBOX_110000.x", []byte("q")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if rogue.Stats().PermissionDenied == 0 {
			return fmt.Errorf("no permission violation reported")
		}
		return nil
	})
}

// ackingErasures is a ServeReceipts handler that passes each receipt's
// sender to receipts and answers an erasure (the payload "e") with "ack
// to" its sender.
func ackingErasures(receipts chan<- string) func(from string, raw []byte) []byte {
	return func(from string, raw []byte) []byte {
		if string(raw) == "e" {
			return []byte("ack to " + from)
		}
		receipts <- from
		return nil
	}
}

// TestDemoConfigClosesOtherProvincesInboxes checks the reply rights of
// the shipped permissions: a province may not publish to another
// province's reply inbox unasked, and answers a request it received (a
// lookup addressed to it) once, not with a flood.
func TestDemoConfigClosesOtherProvincesInboxes(t *testing.T) {
	s, pw := startDemoConfig(t)
	dial := func(user string) *nats.Conn {
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, pw[user]), nats.CustomInboxPrefix("_INBOX_"+user))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	sh, rogue := dial("310000"), dial("440000")
	inbox, err := sh.SubscribeSync("_INBOX_310000.>")
	if err != nil {
		t.Fatal(err)
	}
	asked, err := rogue.SubscribeSync("hcfed.demo.*.lookup.440000")
	if err != nil {
		t.Fatal(err)
	}
	for _, nc := range []*nats.Conn{sh, rogue} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// received says how many messages reached 310000's inbox once the
	// rogue's publications have been processed: the server queues each
	// to 310000 before its PONG to the rogue, and 310000's PONG after.
	received := func() int {
		t.Helper()
		if err := rogue.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := sh.Flush(); err != nil {
			t.Fatal(err)
		}
		n, _, err := inbox.Pending()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := rogue.Publish("_INBOX_310000.unasked", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := received(); n != 0 {
		t.Fatalf("440000 reached 310000's inbox unasked: %d messages", n)
	}
	if err := rogue.LastError(); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("440000 publishing to 310000's inbox: last error %v, want a permission violation", err)
	}

	// 310000 asks 440000; 440000 tries to flood the reply inbox.
	if err := sh.PublishRequest("hcfed.demo.310000.lookup.440000", "_INBOX_310000.lookup.1", []byte("q")); err != nil {
		t.Fatal(err)
	}
	m, err := asked.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := m.Respond([]byte("flood")); err != nil {
			t.Fatal(err)
		}
	}
	if n := received(); n != 1 {
		t.Fatalf("440000 answered 310000's request with %d messages, want 1", n)
	}
}

// TestDemoConfigHidesAnotherProvincesPublishes: a province's JetStream
// publish carries the reply subject its ack comes back on, and
// allow_responses lets whoever receives the message answer there once.
// A member that could subscribe to another's revocation subject could
// thus answer with a forged ack while the stream does not (down, or
// being created again): the publisher would take its revocation for
// stored and never publish it again. Under the shipped permissions a
// province receives only what is addressed to it.
func TestDemoConfigHidesAnotherProvincesPublishes(t *testing.T) {
	s, pw := startDemoConfig(t)
	ctx := testCtx(t)
	op := connectReady(t, s, "", asUser("operator", pw["operator"]))
	sh := connectReady(t, s, "310000", asUser("310000", pw["310000"]))
	rogue, err := nats.Connect(s.ClientURL(), nats.UserInfo("440000", pw["440000"]), nats.CustomInboxPrefix("_INBOX_440000"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rogue.Close)
	subject, err := Topic{Kind: KindRevocations, Province: "310000"}.Subject(testFed)
	if err != nil {
		t.Fatal(err)
	}
	forged := make(chan struct{}, 16)
	for _, s := range []string{subject} {
		if _, err := rogue.Subscribe(s, func(m *nats.Msg) {
			forged <- struct{}{}
			_ = m.Respond([]byte(`{"stream":"` + streamName(testFed) + `","seq":1}`))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := op.js.DeleteStream(ctx, streamName(testFed)); err != nil {
		t.Fatal(err)
	}
	if err := sh.PublishRevocation(ctx, "310000", 1, []byte("rev 1")); !errors.Is(err, ErrStreamMissing) {
		t.Errorf("310000 publishes a revocation with no stream while 440000 listens: %v, want ErrStreamMissing", err)
	}
	if len(forged) > 0 {
		t.Errorf("440000 received 310000's revocation publish %d times", len(forged))
	}
	if err := rogue.LastError(); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("440000 subscribing to 310000's subjects: last error %v, want a permission violation", err)
	}
}
