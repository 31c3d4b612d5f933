package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/internal/testkit"
)

func connectCluster(t *testing.T, nc *natstest.Cluster, replicas int) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, ConnConfig{URLs: nc.ClientURLs(), Federation: testFed, Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// ensureOnCluster runs EnsureStreams on a fresh test cluster until it
// succeeds, as a node does when it starts (daemon fed.run retries it):
// a server starved of CPU, as under the race detector with tests in
// parallel, can miss its heartbeats for a moment, and the meta leader then
// refuses to place a replica on a "peer offline".
func ensureOnCluster(t *testing.T, c *Conn) {
	t.Helper()
	testkit.WaitFor(t, natstest.LeaderTimeout, 100*time.Millisecond, "EnsureStreams on the cluster", func() error {
		return c.EnsureStreams(t.Context())
	})
}

func TestEnsureStreamsOnAClusterScalesR1AssetsToR3AndClusterInfoShowsThemCurrent(t *testing.T) {
	t.Parallel()
	nc := natstest.Start(t, natstest.Config{})
	ctx := testCtx(t)
	ensureOnCluster(t, connectCluster(t, nc, 1))
	c := connectCluster(t, nc, 3)
	// A stream's info may be unreadable for a moment after its creation
	// on a loaded cluster (Error set, Replicas 0): wait until every one
	// reads, then check what it says.
	var before ClusterInfo
	testkit.WaitFor(t, 10*time.Second, 20*time.Millisecond, "the R1 assets' info", func() error {
		before = c.ClusterInfo(ctx)
		for _, h := range before.Streams {
			if h.Error != "" {
				return fmt.Errorf("%s: %s", h.Stream, h.Error)
			}
		}
		return nil
	})
	for _, h := range before.Streams {
		if h.Replicas != 1 {
			t.Fatalf("before: %s has %d replicas, want 1", h.Stream, h.Replicas)
		}
	}
	ensureOnCluster(t, c) // R3 over the R1 assets
	nc.WaitStreamsCurrent(natstest.GlobalAccount, "KV_"+c.bucket, c.stream, "OBJ_"+c.snapBucket)
	names := []string{nc.Name(0), nc.Name(1), nc.Name(2)}
	var info ClusterInfo
	testkit.WaitFor(t, 10*time.Second, 20*time.Millisecond, "three current replicas of every asset", func() error {
		info = c.ClusterInfo(ctx)
		for _, h := range info.Streams {
			if h.Replicas != 3 || !h.Healthy() || !slices.Contains(names, h.Leader) {
				return fmt.Errorf("%s: %+v", h.Asset, h)
			}
		}
		return nil
	})
	if !info.Connected || info.Cluster != nc.ClusterName() || !slices.Contains(names, info.Server) || !slices.Contains(nc.ClientURLs(), info.URL) {
		t.Fatalf("connection: %+v", info)
	}
	if got := []string{info.Streams[0].Asset, info.Streams[1].Asset, info.Streams[2].Asset}; !slices.Equal(got, []string{AssetState, AssetRevocations, AssetSnapshots}) {
		t.Fatalf("assets %v", got)
	}
	// The bucket takes writes. A server starved of CPU (the race run) can
	// miss its heartbeats just after the scale-up, and the stream is then
	// without a leader while a new one is elected: the put gets no
	// response, and a node puts its state again (node.Link republishes),
	// as this does. Any other error fails at once.
	putCtx := testCtx(t)
	testkit.WaitFor(t, natstest.LeaderTimeout, 100*time.Millisecond, "a put on the R3 bucket", func() error {
		_, err := c.PutState(putCtx, "440000.keyset", []byte("k"))
		if err != nil && !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Fatalf("put on the R3 bucket: %v", err)
		}
		return err
	})
}

func TestClusterInfoReportsTheRevocationStreamUnavailableWhenQuorumIsLost(t *testing.T) {
	t.Parallel()
	nc := natstest.Start(t, natstest.Config{})
	ctx := testCtx(t)
	c := connectCluster(t, nc, 3)
	ensureOnCluster(t, c)
	nc.WaitStreamsCurrent(natstest.GlobalAccount, c.stream)
	// Keep the server this connection is on; kill the other two.
	on := c.ClusterInfo(ctx).Server
	for i := range nc.Size() {
		if nc.Name(i) != on {
			nc.Kill(i)
		}
	}
	testkit.WaitFor(t, 15*time.Second, 50*time.Millisecond, "the revocation stream reported unavailable", func() error {
		info := c.ClusterInfo(ctx)
		if h := info.Streams[1]; h.Available() {
			return fmt.Errorf("still available: %+v", h)
		}
		return nil
	})
	if !c.Connected() {
		t.Fatal("the connection to the surviving server dropped")
	}
}

func TestClusterInfoURLCarriesNoUserOrPassword(t *testing.T) {
	t.Parallel()
	if got := withoutUser("nats://440000:s3cret@127.0.0.1:4222"); got != "nats://127.0.0.1:4222" {
		t.Fatalf("withoutUser: %q", got)
	}
}
