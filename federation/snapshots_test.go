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
)

// fakeSnapshot is n bytes shaped like a compact JWS with payload {"seq":seq}.
func fakeSnapshot(seq uint64, n int) []byte {
	head := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"seq":%d}`, seq)) + "."
	return append([]byte(head), bytes.Repeat([]byte("s"), max(n-len(head), 1))...)
}

func TestPutSnapshotStoresLargeSnapshotAndPointsAtIt(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	ctx := testCtx(t)
	if _, err := sh.GetSnapshot(ctx, "440000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSnapshot before any put: %v", err)
	}
	big := fakeSnapshot(42, 3<<20) // three times the server's max_payload
	if err := gd.PutSnapshot(ctx, "440000", big); err != nil {
		t.Fatalf("PutSnapshot: %v", err)
	}
	got, err := sh.GetSnapshot(ctx, "440000")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("GetSnapshot: %d bytes, %v; want the %d put", len(got), err, len(big))
	}
	v, _, err := sh.GetState(ctx, "440000.revsnapshot")
	if err != nil {
		t.Fatal(err)
	}
	ptr, err := parsePointer(v)
	if err != nil || ptr.Seq != 42 || ptr.Size != uint64(len(big)) || ptr.Digest == "" {
		t.Fatalf("pointer %+v, %v", ptr, err)
	}

	// A newer snapshot replaces the old one in place.
	small := fakeSnapshot(43, 100)
	if err := gd.PutSnapshot(ctx, "440000", small); err != nil {
		t.Fatal(err)
	}
	if got, err := sh.GetSnapshot(ctx, "440000"); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("after replacing: %d bytes, %v", len(got), err)
	}
	if st := sh.Stats(); st.SnapshotsFetched != 2 {
		t.Errorf("stats %+v", st)
	}
}

// testMaxSnapshotLen is the snapshot limit of connections in tests that
// need to cross it cheaply.
const testMaxSnapshotLen = 1 << 20

func smallSnapshotLimit(cfg *ConnConfig) { cfg.MaxSnapshotLen = testMaxSnapshotLen }

func TestPutSnapshotRefusals(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000", smallSnapshotLimit)
	ctx := testCtx(t)
	for name, tc := range map[string]struct {
		province string
		raw      []byte
		want     error
	}{
		"another province's": {"310000", fakeSnapshot(1, 10), ErrForeignProvince},
		"a bad province id":  {"44000", fakeSnapshot(1, 10), ErrInvalidName},
		"over the limit":     {"440000", fakeSnapshot(1, testMaxSnapshotLen+1), ErrTooLarge},
		"not a statement":    {"440000", []byte("no dots"), errNotCompact},
	} {
		if err := gd.PutSnapshot(ctx, tc.province, tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := gd.GetSnapshot(ctx, "440000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused put stored something: %v", err)
	}
}

// TestGetSnapshotRefusesOversizedObject stores an object over the limit
// behind PutSnapshot's back: GetSnapshot refuses it from its size alone.
func TestGetSnapshotRefusesOversizedObject(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000", smallSnapshotLimit)
	ctx := testCtx(t)
	obs, err := gd.snapshotHandle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "440000", make([]byte, testMaxSnapshotLen+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := gd.GetSnapshot(ctx, "440000"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("GetSnapshot of %d bytes: %v, want ErrTooLarge", testMaxSnapshotLen+1, err)
	}
	if st := gd.Stats(); st.SnapshotsOversized != 1 || st.SnapshotsFetched != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSnapshotRequestsAreServedAndCoalesced(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	bj := connectReady(t, s, "110000")
	if err := sh.RequestSnapshot(testCtx(t), "440000", 1); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request with no home node: %v, want no responders", err)
	}

	release := make(chan struct{})
	var runs recorder[time.Time]
	ctx, stop := context.WithCancel(testCtx(t))
	err := gd.ServeSnapshotRequests(ctx, func(ctx context.Context) error {
		runs.add(time.Now())
		<-release
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Conn{}).ServeSnapshotRequests(ctx, nil); err == nil {
		t.Error("a connection of no province served snapshot requests")
	}
	// The first request starts a run; while it runs, more requests are
	// acknowledged and folded into one more run.
	if err := sh.RequestSnapshot(testCtx(t), "440000", 5); err != nil {
		t.Fatalf("RequestSnapshot: %v", err)
	}
	runs.waitLen(t, 1)
	for range 3 {
		if err := bj.RequestSnapshot(testCtx(t), "440000", 6); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	stop()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := gd.active.Load(); n != 0 {
			return fmt.Errorf("%d goroutines still running", n)
		}
		return nil
	})
	if n := len(runs.all()); n != 1 {
		t.Fatalf("%d runs; the queued run must wait for minRepublish and stop with ctx", n)
	}
}

// A revsnapshot pointer is a peer's value: a key given twice, mis-cased
// or unknown is refused (onPointer rejects it as malformed), not
// collapsed to the last or ignored as encoding/json alone would.
func TestParsePointerRefusesDuplicateCaseVariantAndUnknownKeys(t *testing.T) {
	if p, err := parsePointer([]byte(`{"seq":12,"size":4096,"digest":"SHA-256=abc"}`)); err != nil || p.Seq != 12 {
		t.Fatalf("a well-formed pointer reads as %+v, %v", p, err)
	}
	for in, want := range map[string]string{
		`{"seq":12,"size":4096,"digest":"SHA-256=abc","seq":99}`: `duplicate key "seq"`,
		`{"SEQ":99,"size":4096,"digest":"SHA-256=abc"}`:          `unknown field "SEQ"`,
		`{"seq":12,"size":4096,"digest":"SHA-256=abc","next":1}`: `unknown field "next"`,
	} {
		if p, err := parsePointer([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s reads as %+v, %v; want it refused saying %s", in, p, err, want)
		}
	}
}

// TestSnapshotRequestsCannotKeepAProvincePublishing: anyone may ask a
// province for a fresh snapshot, and one of millions of entries takes
// seconds to build and store. Asking again as soon as each run ends
// must not keep the home node publishing back to back: after a run that
// took d, the next waits republishIdle times d (when that is longer than
// minRepublish).
func TestSnapshotRequestsCannotKeepAProvincePublishing(t *testing.T) {
	t.Parallel()
	const cost = 1500 * time.Millisecond // republishIdle*cost > minRepublish
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	type run struct{ start, end time.Time }
	var runs recorder[run]
	err := gd.ServeSnapshotRequests(testCtx(t), func(ctx context.Context) error {
		r := run{start: time.Now()}
		select { // a large snapshot being built and stored
		case <-time.After(cost):
		case <-ctx.Done():
		}
		r.end = time.Now()
		runs.add(r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.RequestSnapshot(testCtx(t), "440000", 1); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := len(runs.all()); n < 1 {
			return errors.New("first run not done")
		}
		return nil
	})
	if err := sh.RequestSnapshot(testCtx(t), "440000", 2); err != nil { // at once again
		t.Fatal(err)
	}
	got := runs.waitLenWithin(t, 2, 15*time.Second)
	took := got[0].end.Sub(got[0].start)
	if idle := got[1].start.Sub(got[0].end); idle < republishIdle*took {
		t.Fatalf("second run started %v after a run of %v; want at least %v", idle, took, republishIdle*took)
	}
}
