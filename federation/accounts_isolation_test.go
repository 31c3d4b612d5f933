package federation

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// expectDenied runs attempt with c's own connection and waits until the
// server has reported one more permission violation for it.
func expectDenied(t *testing.T, c *Conn, what string, attempt func(nc *nats.Conn) error) {
	t.Helper()
	before := c.Stats().PermissionDenied
	if err := attempt(c.nc); err != nil && !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("%s: %v", what, err)
	}
	_ = c.nc.Flush()
	reported := func() error {
		if c.Stats().PermissionDenied <= before {
			return fmt.Errorf("%s: the server reported no permission violation", what)
		}
		return nil
	}
	checkFor(t, 5*time.Second, 5*time.Millisecond, reported)
}

func TestAccountsProvinceCannotWriteDeleteOrPurgeAnotherProvincesData(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	f := runAccountsServer(t)
	ctx := testCtx(t)
	gdc, shc, bjc := f.node(t, gd), f.node(t, sh), f.node(t, bj)
	keyset, rev, snap := fx.keyset(sh, 1), fx.revocation(sh, 1), fx.snapshot(sh, 1)
	put(t, shc, sh+".keyset", keyset)
	publishRev(t, shc, sh, 1, rev)
	if err := shc.PutSnapshot(ctx, sh, snap); err != nil {
		t.Fatal(err)
	}
	// Each account reads sh's keyset from its own aggregate, where its
	// revision is the aggregate's sequence: it depends on what else was
	// sourced into that aggregate first (CI once saw gd's at 2, bj's at
	// 1), so each reader's own revision is the one it must keep.
	revision := map[*Conn]uint64{}
	for _, c := range []*Conn{shc, bjc, gdc} {
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			_, r, err := c.GetState(ctx, sh+".keyset")
			revision[c] = r
			return err
		})
	}
	for _, c := range []*Conn{shc, bjc, gdc} {
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if n := revocationsOf(t, c, sh); n != 1 {
				return fmt.Errorf("%s holds %d revocations of sh, want 1", c.Province(), n)
			}
			return nil
		})
	}
	ownSnap := "hcfed_demo_snap_" + sh
	junk := []byte("junk")
	pub := func(subj string) func(*nats.Conn) error {
		return func(nc *nats.Conn) error { return nc.Publish(subj, junk) }
	}
	for what, attempt := range map[string]func(*nats.Conn) error{
		"put sh's key in sh's bucket":             pub("$KV.hcfed_demo_310000.310000.keyset"),
		"put sh's key in the aggregate":           pub("$KV.hcfed_demo.310000.keyset"),
		"put sh's key in gd's own bucket":         pub("$KV.hcfed_demo_440000.310000.keyset"),
		"publish sh's revocations":                pub("hcfed.demo.310000.revocations"),
		"purge the revocation aggregate":          pub("$JS.API.STREAM.PURGE.HCFED_demo_REV"),
		"delete a message of the state aggregate": pub("$JS.API.STREAM.MSG.DELETE.KV_hcfed_demo"),
		"delete the state aggregate":              pub("$JS.API.STREAM.DELETE.KV_hcfed_demo"),
		"change the aggregate's sources":          pub("$JS.API.STREAM.UPDATE.HCFED_demo_REV"),
		"create a stream of its own making":       pub("$JS.API.STREAM.CREATE.X"),
		"purge sh's snapshot bucket":              pub("$JS.310000.API.STREAM.PURGE.OBJ_" + ownSnap),
		"write sh's snapshot metadata":            pub("$O." + ownSnap + ".M." + base64.URLEncoding.EncodeToString([]byte(sh))),
		"write a chunk into sh's snapshot bucket": pub("$O." + ownSnap + ".C.x"),
		"create a consumer on sh's bucket":        pub("$JS.310000.API.CONSUMER.CREATE.KV_hcfed_demo_310000"),
		"delete a consumer of sh's sourcing":      pub("$JS.310000.API.CONSUMER.DELETE.KV_hcfed_demo_310000.x"),
		"feed another account's sourcing":         pub("hcfedsrc.440000.310000.S.x"),
	} {
		expectDenied(t, gdc, what, attempt)
	}
	// Reply subjects are not checked by permissions: the server's own
	// JetStream ack to gd's publish goes where gd says, inside gd's
	// account, where the aggregate captures no subject.
	if err := gdc.nc.PublishRequest("$KV.hcfed_demo_440000.440000.heartbeat", "$KV.hcfed_demo.310000.keyset", junk); err != nil {
		t.Fatal(err)
	}
	if err := gdc.nc.PublishRequest("hcfed.demo.440000.revocations", "$KV.hcfed_demo.310000.keyset", junk); err != nil {
		t.Fatal(err)
	}
	_ = gdc.nc.Flush()

	for _, c := range []*Conn{shc, bjc, gdc} {
		got, r, err := c.GetState(ctx, sh+".keyset")
		if err != nil || !bytes.Equal(got, keyset) || r != revision[c] {
			t.Errorf("%s sees sh's keyset rev %d (%v), want the original at rev %d", c.Province(), r, err, revision[c])
		}
		b, err := c.GetSnapshot(ctx, sh)
		if err != nil || !bytes.Equal(b, snap) {
			t.Errorf("%s reads sh's snapshot: %d bytes, %v; want the original", c.Province(), len(b), err)
		}
		if n := revocationsOf(t, c, sh); n != 1 {
			t.Errorf("%s holds %d revocations of sh, want 1", c.Province(), n)
		}
	}
}

// revocationsOf counts the revocations of p in c's revocation aggregate.
func revocationsOf(t *testing.T, c *Conn, p string) uint64 {
	t.Helper()
	ctx := testCtx(t)
	st, err := c.js.Stream(ctx, streamName(testFed))
	if err != nil {
		t.Fatal(err)
	}
	subj := "hcfed.demo." + p + ".revocations"
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

func TestAccountsLookupsAddressedToAnotherProvinceAreNotSeen(t *testing.T) {
	t.Parallel()
	f := runAccountsServer(t)
	ctx := testCtx(t)
	gdc, shc, bjc := f.node(t, gd), f.node(t, sh), f.node(t, bj)
	if err := shc.ServeLookups(ctx, func(asker string, _ []byte) []byte { return []byte("to " + asker) }); err != nil {
		t.Fatal(err)
	}
	receipts := make(chan string, 4)
	if err := shc.ServeReceipts(ctx, ackingErasures(receipts)); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	spy := func(m *nats.Msg) { seen <- m.Subject }
	for what, attempt := range map[string]func(*nats.Conn) error{
		"subscribe to sh's lookups": func(nc *nats.Conn) error {
			_, err := nc.Subscribe("hcfed.demo.*.lookup.310000", spy)
			return err
		},
		"join sh's lookup queue group": func(nc *nats.Conn) error {
			_, err := nc.QueueSubscribe("hcfed.demo.*.lookup.310000", serveQueue, spy)
			return err
		},
		"subscribe to the whole federation": func(nc *nats.Conn) error {
			_, err := nc.Subscribe("hcfed.demo.>", spy)
			return err
		},
		"ask sh as bj": func(nc *nats.Conn) error {
			return nc.PublishRequest("hcfed.demo.110000.lookup.310000", "_INBOX_440000.x", []byte("q"))
		},
	} {
		expectDenied(t, gdc, what, attempt)
	}

	accept := func([]byte) error { return nil }
	for _, c := range []*Conn{bjc, gdc} {
		reply, err := c.RequestLookup(ctx, sh, []byte("q"), accept)
		if want := "to " + c.Province(); err != nil || string(reply) != want {
			t.Fatalf("%s asks sh: %q, %v; want %q", c.Province(), reply, err, want)
		}
		if err := c.PublishReceipts(ctx, sh, []byte("r")); err != nil {
			t.Fatal(err)
		}
		if from := <-receipts; from != c.Province() {
			t.Fatalf("receipt from %q, want %s", from, c.Province())
		}
		reply, err = c.RequestErasure(ctx, sh, []byte("e"), accept)
		if want := "ack to " + c.Province(); err != nil || string(reply) != want {
			t.Fatalf("%s sends sh an erasure: %q, %v; want %q", c.Province(), reply, err, want)
		}
	}
	if _, err := shc.RequestLookup(ctx, gd, []byte("q"), accept); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("sh asks gd, which serves nothing: %v, want no responders", err)
	}
	_ = gdc.nc.Flush()
	select {
	case s := <-seen:
		t.Fatalf("gd received %s", s)
	default:
	}
}

func TestAccountsQuotaAndConsumerFloodHarmOnlyTheFlooder(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	f := runAccountsServer(t)
	op, gdc := f.conn(t, "", RoleOperator), f.node(t, gd)
	put(t, op, "trustlist", fx.trustList)

	// gd fills its own state bucket with junk keys under its prefix.
	// Each of the floods' hundreds of requests has a testCtx of its own:
	// under the race detector on a loaded machine they took more than one.
	big := bytes.Repeat([]byte("x"), 256<<10)
	var full error
	for i := 0; i <= ownBucketMaxBytes/len(big)+2 && full == nil; i++ {
		_, full = gdc.js.Publish(testCtx(t), fmt.Sprintf("$KV.hcfed_demo_440000.440000.junk%d", i), big)
	}
	if full == nil {
		t.Fatal("gd wrote past its state quota")
	}
	// gd creates consumers on its aggregate until its quota refuses. The
	// quota counts consumers of either storage; memory ones spare the test
	// seconds of writing and, at shutdown, flushing 512 consumer stores.
	var refused error
	for i := 0; i <= DefaultAccountMaxConsumers && refused == nil; i++ {
		_, refused = gdc.js.CreateConsumer(testCtx(t), streamName(testFed), jetstream.ConsumerConfig{Durable: fmt.Sprintf("junk%d", i), MemoryStorage: true})
	}
	if refused == nil || !strings.Contains(refused.Error(), "maximum consumers") {
		t.Fatalf("consumer %d of gd: %v, want its quota to refuse it", DefaultAccountMaxConsumers+1, refused)
	}

	// sh and bj publish, and a peer started afresh syncs and verifies.
	shc, bjc := f.node(t, sh), f.node(t, bj)
	put(t, shc, sh+".keyset", fx.keyset(sh, 1))
	put(t, bjc, bj+".keyset", fx.keyset(bj, 1))
	publishRev(t, shc, sh, 1, fx.revocation(sh, 1))
	publishRev(t, bjc, bj, 1, fx.revocation(bj, 1))
	for _, p := range []struct{ self, peer string }{{bj, sh}, {sh, bj}} {
		u := fx.newSync(f.node(t, p.self), p.self).run(t)
		u.waitReady(t)
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if !u.state.Revoked(p.peer, jti(p.peer, 1)) {
				return fmt.Errorf("%s does not hold %s's revocation 1", p.self, p.peer)
			}
			return nil
		})
	}
	ctx := testCtx(t)
	kv, err := bjc.bucketHandle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "440000.junk0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("gd's junk key in bj's aggregate: %v, want not found", err)
	}
}

// A verifier replica's user may ask a province for a fresh snapshot under
// its own province's name (a request, never stored: a replica that finds
// a gap in a province's deltas need not wait for the periodic snapshot),
// and still publishes nothing else: no revocation, state, lookup,
// receipt, or request in another province's name.
func TestAccountsVerifierMayRequestSnapshotsAndPublishNothingElse(t *testing.T) {
	t.Parallel()
	f := runAccountsServer(t)
	ctx := testCtx(t)
	shc, bjv := f.node(t, sh), f.conn(t, bj, RoleVerifier)
	asked := make(chan struct{}, 4)
	if err := shc.ServeSnapshotRequests(ctx, func(context.Context) error { asked <- struct{}{}; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := bjv.RequestSnapshot(ctx, sh, 1); err != nil {
		t.Fatalf("bj's verifier asks sh for a snapshot: %v", err)
	}
	select {
	case <-asked:
	case <-ctx.Done():
		t.Fatal("sh's node was never asked to publish a snapshot")
	}
	pub := func(subj string) func(*nats.Conn) error {
		return func(nc *nats.Conn) error { return nc.PublishRequest(subj, "_INBOX_110000.x", []byte("{}")) }
	}
	for what, attempt := range map[string]func(*nats.Conn) error{
		"publish bj's revocations":      pub("hcfed.demo.110000.revocations"),
		"put bj's keyset":               pub("$KV.hcfed_demo_110000.110000.keyset"),
		"ask sh for a lookup":           pub("hcfed.demo.110000.lookup.310000"),
		"send sh receipts":              pub("hcfed.demo.110000.receipts.310000"),
		"ask for a snapshot as gd":      pub("hcfed.demo.440000.snapreq.310000"),
		"put a chunk in bj's snapshots": pub("$O.hcfed_demo_snap_110000.C.x"),
		"serve bj's snapshot requests": func(nc *nats.Conn) error {
			_, err := nc.Subscribe("hcfed.demo.*.snapreq.110000", func(*nats.Msg) {})
			return err
		},
	} {
		expectDenied(t, bjv, what, attempt)
	}
}
