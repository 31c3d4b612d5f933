package federation

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A member's heartbeat makes the revocations held of it current as of the
// heartbeat only once the seq it names has arrived: a heartbeat that
// travels ahead of its deltas (or of a lost one) must not vouch for them.
// The heartbeat that did is cached after those deltas, and a node
// restarted from its cache alone (NATS down) holds the same moment, not a
// fresh one, and not none.
func TestHeartbeatMakesRevocationsCurrentOnceItsSeqArrivesAndAcrossARestart(t *testing.T) {
	t.Parallel()
	f, s, gdc := guangdongPublishing(t)
	publishRev(t, gdc, gd, 1, f.revocation(gd, 1))
	shc := connectReady(t, s, sh)
	u := f.newSync(shc, sh).run(t)
	u.waitReady(t)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error { return revokedThrough(u.state, gd, 1) })

	hbAt := f.now.Add(-time.Minute).Truncate(time.Second)
	put(t, gdc, "440000.heartbeat", f.heartbeat(gd, hbAt, 2))
	u.waitOutcome(t, "heartbeat/ok", 1)
	if got := u.state.RevocationsAsOf(gd); !got.IsZero() {
		t.Fatalf("current as of %v with seq 1 held and the heartbeat naming 2, want no moment yet", got)
	}
	if _, ok := cached(u.cache, "440000.heartbeat"); ok {
		t.Fatal("a heartbeat naming a seq not held was cached")
	}
	publishRev(t, gdc, gd, 2, f.revocation(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := u.state.RevocationsAsOf(gd); !got.Equal(hbAt) {
			return fmt.Errorf("current as of %v, want the heartbeat's %v", got, hbAt)
		}
		if _, ok := cached(u.cache, "440000.heartbeat"); !ok {
			return fmt.Errorf("the heartbeat is not cached once its seq arrived")
		}
		return nil
	})
	u.stop()
	s.Shutdown()

	restarted := f.newSync(nil, sh, func(c *SyncConfig) { c.Cache = u.cache })
	if err := restarted.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := restarted.state.RevocationsAsOf(gd); !got.Equal(hbAt) {
		t.Fatalf("restored: current as of %v, want the cached heartbeat's %v", got, hbAt)
	}
}

// cached returns the statement c holds under key.
func cached(c *MemCache, key string) ([]byte, bool) {
	all, _ := c.Statements(context.Background())
	for _, st := range all {
		if st.Key == key {
			return st.Raw, true
		}
	}
	return nil, false
}

// guangdongPublishing starts a NATS server holding Guangdong's keyset and
// its grant to Shanghai, and returns Guangdong's connection.
func guangdongPublishing(t *testing.T) (*fixture, *Server, *Conn) {
	t.Helper()
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd)
	put(t, gdc, "440000.keyset", f.keyset(gd, 1))
	put(t, gdc, "440000.contentkey.310000", f.grant(gd, sh))
	return f, s, gdc
}

// A member that marks a key compromised publishes a new keyset, and its
// heartbeats name that keyset's version. A node that never applied it
// (withheld on the way, or refused) went on accepting codes of the
// compromised key — signed by whoever took it — for as long as the
// member's heartbeats arrived, up to the held keyset's expiry, since
// those heartbeats kept its revocations current. A heartbeat naming a
// keyset newer than the one held now vouches for nothing: the member's
// codes turn revocations_stale past the limit, as when cut off, until
// the keyset arrives and the next heartbeat is counted.
func TestHeartbeatNamingAKeysetNotHeldDoesNotVouchForTheMember(t *testing.T) {
	t.Parallel()
	f, s, gdc := guangdongPublishing(t)
	shc := connectReady(t, s, sh)
	u := f.newSync(shc, sh).run(t)
	u.waitReady(t)

	first := f.now.Add(-2 * time.Minute).Truncate(time.Second)
	held := f.heartbeatOfKeyset(gd, first, 0, 1)
	put(t, gdc, "440000.heartbeat", held)
	u.waitOutcome(t, "heartbeat/ok", 1)
	if got := u.state.RevocationsAsOf(gd); !got.Equal(first) {
		t.Fatalf("current as of %v after a heartbeat naming the keyset held, want %v: this test checks nothing", got, first)
	}
	ahead := first.Add(time.Minute)
	put(t, gdc, "440000.heartbeat", f.heartbeatOfKeyset(gd, ahead, 0, 2))
	u.waitOutcome(t, "heartbeat/ok", 2)
	if got := u.state.RevocationsAsOf(gd); !got.Equal(first) {
		t.Errorf("current as of %v after a heartbeat naming keyset 2 with keyset 1 held, want still %v", got, first)
	}
	if raw, _ := cached(u.cache, "440000.heartbeat"); string(raw) != string(held) {
		t.Error("the heartbeat naming a keyset not held replaced the cached one")
	}

	put(t, gdc, "440000.keyset", f.keyset(gd, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if ks := u.state.Keyset(gd); ks == nil || ks.Version != 2 {
			return fmt.Errorf("keyset 2 not applied yet")
		}
		return nil
	})
	later := ahead.Add(30 * time.Second)
	put(t, gdc, "440000.heartbeat", f.heartbeatOfKeyset(gd, later, 0, 2))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := u.state.RevocationsAsOf(gd); !got.Equal(later) {
			return fmt.Errorf("current as of %v once keyset 2 is held, want %v", got, later)
		}
		return nil
	})
}
