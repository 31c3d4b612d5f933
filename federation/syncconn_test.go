package federation

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// cutSubscribers closes, from the server's side, every client connection
// subscribed to subject, as the server closes a slow consumer whose
// max_pending a flood filled, and returns their names.
func cutSubscribers(t *testing.T, s *Server, subject string) []string {
	t.Helper()
	cz, err := s.ns.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	var cut []string
	for _, ci := range cz.Conns {
		if slices.Contains(ci.Subs, subject) {
			if err := s.ns.DisconnectClientByID(ci.Cid); err != nil {
				t.Fatalf("cut %s: %v", ci.Name, err)
			}
			cut = append(cut, ci.Name)
		}
	}
	return cut
}

// A node's services have a NATS connection of their own
// (ConnConfig.ServicesConn): when the server cuts it, as it cuts a
// connection whose max_pending a flood of lookups filled, the revocation
// consumer goes on over the sync's connection, which never disconnects,
// and a revocation published after the cut arrives. nats.go reconnects
// the services and subscribes them again: a lookup is answered. Before,
// one connection carried both and the cut took the sync with it (the
// sync's connection disconnected and reconnected).
func TestServicesConnCutLeavesTheSyncRunning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := runServer(t)
	gdc := connectReady(t, s, gd, func(c *ConnConfig) { c.ServicesConn = true })
	shc := connect(t, s, sh)
	ctx := testCtx(t)
	if err := gdc.ServeLookups(ctx, func(asker string, req []byte) []byte { return []byte("answer") }); err != nil {
		t.Fatal(err)
	}
	revs := consumedSeqs(t, ctx, gdc)
	publishRev(t, shc, sh, 1, f.revocation(sh, 1))
	revs.waitLen(t, 1)

	cut := cutSubscribers(t, s, toProvince(testFed, KindLookup, gd))
	if len(cut) != 1 {
		t.Fatalf("cut %q, want the one connection that holds gd's lookups", cut)
	}
	checkFor(t, 5*time.Second, 2*time.Millisecond, func() error {
		if st := gdc.Stats(); st.ServicesDisconnects+st.Disconnects == 0 {
			return errors.New("gd has not noticed the cut yet")
		}
		return nil
	})
	publishRev(t, shc, sh, 2, f.revocation(sh, 2))
	revs.waitLen(t, 2)
	if st := gdc.Stats(); !gdc.Connected() || st.Disconnects != 0 || st.Reconnects != 0 || st.Restarts != 0 {
		t.Fatalf("connected %v, stats %+v: the cut of %s took the sync with it", gdc.Connected(), st, cut[0])
	}
	if want := "hcfed-" + gd + "-services"; cut[0] != want {
		t.Fatalf("cut %s, want %s", cut[0], want)
	}

	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		reply, err := shc.RequestLookup(ctx, gd, []byte("q"), func([]byte) error { return nil })
		if err != nil || string(reply) != "answer" {
			return fmt.Errorf("lookup after the cut = %q, %v", reply, err)
		}
		return nil
	})
	info := gdc.ClusterInfo(ctx)
	if svc := info.Services; svc == nil || !svc.Connected || svc.Reconnects != 1 || info.Reconnects != 0 {
		t.Fatalf("cluster info %+v, services %+v: want the services reconnected once, the sync never", info, svc)
	}
}
