package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterReadyWithin bounds the wait for a freshly started NATS cluster
// to place R3 streams. A clustered JetStream server took over 10 s to
// start on a loaded 2-core machine (internal/natstest.ReadyTimeout).
const clusterReadyWithin = 60 * time.Second

// startClusterMembers starts every server of fed.natsConfs, each with a
// monitoring port of its own, and waits until the cluster can place a
// stream on all three: one server answering a JetStream request is not
// enough for that (hcnode nats-setup --replicas 3 then failed with "no
// suitable peers for placement, peer offline").
func (fed *federation) startClusterMembers(t *testing.T) {
	t.Helper()
	fed.natsCluster = make([]*proc, len(fed.natsConfs))
	fed.natsMonitors = make([]int, len(fed.natsConfs))
	for i := range fed.natsConfs {
		fed.natsMonitors[i] = freePort(t)
		fed.startClusterMember(t, i)
	}
	waitFor(t, clusterReadyWithin, "every NATS server with JetStream, online and current at the meta leader", func() error {
		return jetStreamPlacementReady(fed.natsMonitors)
	})
}

// jetStreamPlacementReady reports nil once what R3 placement needs holds
// on the cluster whose servers monitor on monitors (HTTP ports on
// 127.0.0.1): every server is reachable, has JetStream enabled and is
// current with a meta leader (/healthz?js-meta-only), and the meta leader
// sees every other server online and current (/jsz?leader-only).
func jetStreamPlacementReady(monitors []int) error {
	var leader *server.MetaClusterInfo
	for i, port := range monitors {
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		var h server.HealthStatus
		if status, err := getMonitor(base+"/healthz?js-meta-only=true", &h); err != nil {
			return fmt.Errorf("NATS server %d: %w", i+1, err)
		} else if status != http.StatusOK {
			return fmt.Errorf("NATS server %d is not ready: %s", i+1, h.Error)
		}
		var jsz server.JSInfo
		status, err := getMonitor(base+"/jsz?leader-only=true", &jsz)
		if err != nil {
			return fmt.Errorf("NATS server %d: %w", i+1, err)
		}
		if status == http.StatusOK && jsz.Meta != nil {
			leader = jsz.Meta
		}
	}
	if leader == nil {
		return fmt.Errorf("none of the %d NATS servers is the JetStream meta leader", len(monitors))
	}
	if others := len(monitors) - 1; len(leader.Replicas) != others {
		return fmt.Errorf("the meta leader %s knows %d of the other %d servers", leader.Leader, len(leader.Replicas), others)
	}
	for _, p := range leader.Replicas {
		if p.Offline || !p.Current {
			return fmt.Errorf("the meta leader %s sees %s offline (%v) or behind (current %v)", leader.Leader, p.Name, p.Offline, p.Current)
		}
	}
	return nil
}

// TestPlacementReadyHoldsOnlyWhileEveryServerCanTakeAReplica checks the
// wait the process tests start their NATS clusters with, on an in-process
// cluster with monitoring ports: with one server down it does not hold
// (the wait checked before, one server answering a JetStream request,
// can hold then, and nats-setup --replicas 3 met "no suitable peers for
// placement, peer offline"); once it holds again, an R3 stream is placed
// at the first try.
func TestPlacementReadyHoldsOnlyWhileEveryServerCanTakeAReplica(t *testing.T) {
	monitors := []int{freePort(t), freePort(t), freePort(t)}
	c := natstest.Start(t, natstest.Config{Configure: func(i int, o *server.Options) {
		o.HTTPHost, o.HTTPPort = "127.0.0.1", monitors[i]
	}})
	waitFor(t, clusterReadyWithin, "the cluster ready for R3 placement", func() error {
		return jetStreamPlacementReady(monitors)
	})
	js := c.JetStream()
	c.Kill(2)
	if err := jetStreamPlacementReady(monitors); err == nil {
		t.Fatal("placement ready with one of three servers down")
	} else {
		t.Logf("with a server down: %v", err)
	}

	c.Restart(2)
	waitFor(t, clusterReadyWithin, "the cluster ready for R3 placement again", func() error {
		return jetStreamPlacementReady(monitors)
	})
	// A loaded machine can take more than 5 s to create an R3 stream.
	ctx, cancel := context.WithTimeout(t.Context(), natstest.LeaderTimeout)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3}); err != nil {
		t.Fatalf("R3 stream once placement is ready: %v", err)
	}
}

// monitorClient asks a server's monitoring port; a server that hangs
// fails one poll, not the wait.
var monitorClient = &http.Client{Timeout: 2 * time.Second}

// getMonitor GETs url and decodes a JSON body of a 200 or 503 into v; it
// returns the status (400 for /jsz?leader-only on a follower).
func getMonitor(url string, v any) (int, error) {
	resp, err := monitorClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable {
		if err := json.Unmarshal(body, v); err != nil {
			return 0, fmt.Errorf("%s: %w", url, err)
		}
	}
	return resp.StatusCode, nil
}
