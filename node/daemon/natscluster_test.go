package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// clusterTest is three provinces on a real 3-server NATS cluster, every
// federation asset R3.
type clusterTest struct {
	*fedTest
	nats *natstest.Cluster
}

// jsGrace is the test nodes' JetStream grace before /readyz says so.
const jsGrace = time.Second

func startOnNATSCluster(t *testing.T) *clusterTest {
	t.Helper()
	nc := natstest.Start(t, natstest.Config{})
	c, err := daemon.StartCluster(context.Background(), daemon.ClusterConfig{Dir: t.TempDir(), Provinces: threeProvinces,
		NATSURLs: nc.ClientURLs(), Replicas: 3, JetStreamGrace: jsGrace,
		Configure: func(cfg *config.Config) {
			cfg.Privacy.Collect = []string{"name", "id_number"}
			// The failover test verifies flat out for seconds to show
			// verification never stops: on an idle machine that passed
			// 1,000 a second and met the scanner's rate limit (429).
			cfg.Limits.ScannerRate, cfg.Limits.ScannerBurst = 1e6, 1e6
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ct := &clusterTest{fedTest: &fedTest{t: t, c: c}, nats: nc}
	for _, d := range c.Nodes {
		sc, err := d.Node.AddScanner(context.Background(), node.Principal{Role: node.RoleOperator}, "gate", "checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		ct.scanners = append(ct.scanners, sc.Token)
	}
	ct.waitHealthy()
	return ct
}

// info is node i's view of the NATS cluster, once it has one.
func (ct *clusterTest) info(i int) federation.ClusterInfo {
	ct.t.Helper()
	var info federation.ClusterInfo
	waitFor(ct.t, "node's first cluster info", func() error {
		var ok bool
		if info, ok = ct.c.Nodes[i].ClusterInfo(); !ok {
			return fmt.Errorf("not read yet")
		}
		return nil
	})
	return info
}

// waitHealthy waits until every node sees every asset R3 with three
// current replicas.
func (ct *clusterTest) waitHealthy() {
	ct.t.Helper()
	testkit.WaitFor(ct.t, natstest.LeaderTimeout, 20*time.Millisecond, "every asset R3 and current in every node's view", func() error {
		for i := range ct.c.Nodes {
			for _, s := range ct.info(i).Streams {
				if s.Replicas != 3 || !s.Healthy() {
					return fmt.Errorf("%s sees %s: %+v", ct.c.Configs[i].Province, s.Asset, s)
				}
			}
		}
		return nil
	})
}

// server is the index of the NATS server named name.
func (ct *clusterTest) server(name string) int {
	for i := range ct.nats.Size() {
		if ct.nats.Name(i) == name {
			return i
		}
	}
	ct.t.Fatalf("no NATS server %q", name)
	return -1
}

// tryVerify is verify for a goroutine: every failure is an error.
func (ct *clusterTest) tryVerify(i int, code string) (string, error) {
	b, _ := json.Marshal(map[string]string{"code": code})
	req, _ := http.NewRequest("POST", ct.c.Nodes[i].URL+"/v1/verify", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+ct.scanners[i])
	resp, err := testClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v struct{ Reason string }
	if resp.StatusCode != 200 || json.Unmarshal(raw, &v) != nil {
		return "", fmt.Errorf("verify: %d %s", resp.StatusCode, raw)
	}
	return v.Reason, nil
}

// trySetStatus is setStatus for a goroutine; it reports whether the node
// acknowledged the change.
func (ct *clusterTest) trySetStatus(i int, subject, status string) bool {
	b, _ := json.Marshal(map[string]string{"status": status})
	req, _ := http.NewRequest("PUT", ct.c.Nodes[i].URL+"/v1/subjects/"+subject+"/status", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+ct.c.Tokens[i])
	resp, err := testClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func (ct *clusterTest) streams() []string {
	var names []string
	for _, s := range ct.info(0).Streams {
		names = append(names, s.Stream)
	}
	return names
}

func TestOnANATSClusterR3CodesVerifyAcrossProvincesAndRevocationsPropagate(t *testing.T) {
	t.Parallel()
	ct := startOnNATSCluster(t)
	subject, code := ct.enrolAndIssue(0, "张三", "11010519491231002X")
	for i := range ct.c.Nodes {
		ct.eventually(i, code, "ok")
	}
	ct.setStatus(0, subject, "red")
	for i := range ct.c.Nodes {
		ct.eventually(i, code, "revoked")
	}
	var fv struct {
		NATS struct {
			Cluster  string
			Server   string
			Services *struct{ Connected bool }
			Streams  []struct {
				Asset    string
				Replicas int
				Current  int
			}
		}
	}
	// A follower just written to may lag a moment (Current 2 was seen
	// under load): the view must show all three current once it has
	// caught up.
	waitFor(t, "GET /v1/federation showing three streams R3, each with three current replicas", func() error {
		ct.call(1, "GET", "/v1/federation", "", nil, &fv)
		if fv.NATS.Cluster != ct.nats.ClusterName() || fv.NATS.Server == "" || len(fv.NATS.Streams) != 3 {
			return fmt.Errorf("nats: %+v", fv.NATS)
		}
		for _, s := range fv.NATS.Streams {
			if s.Replicas != 3 || s.Current != 3 {
				return fmt.Errorf("%+v", s)
			}
		}
		return nil
	})
	ct.waitMetric(ct.c.Nodes[1], `hcfed_jetstream_replicas_current{asset="revocations"}`, 3)
	if got := metricValue(t, ct.c.Nodes[1], fmt.Sprintf(`hcfed_nats_connected_server_info{cluster=%q,server=%q}`, ct.nats.ClusterName(), fv.NATS.Server)); got != 1 {
		t.Fatalf("hcfed_nats_connected_server_info = %v", got)
	}
	// The sync and the services have a connection each, both up.
	if fv.NATS.Services == nil || !fv.NATS.Services.Connected {
		t.Fatalf("GET /v1/federation nats.services = %+v, want connected", fv.NATS.Services)
	}
	for _, conn := range []string{"sync", "services"} {
		if got := metricValue(t, ct.c.Nodes[1], fmt.Sprintf(`hcfed_nats_connected{conn=%q}`, conn)); got != 1 {
			t.Fatalf("hcfed_nats_connected{conn=%q} = %v", conn, got)
		}
	}
}

// burstSize is how many codes are revoked in the failover burst.
const burstSize = 40

func TestOnANATSClusterAServerKilledDuringARevocationBurstLosesNoAcknowledgedRevocation(t *testing.T) {
	natstest.SkipFailoverInShortRun(t)
	t.Parallel()
	ct := startOnNATSCluster(t)
	subjects := make([]string, burstSize)
	codes := make([]string, burstSize)
	for k := range burstSize {
		subjects[k], codes[k] = ct.enrolAndIssue(0, "张三", testkit.IDNumber("110105194912", k))
	}
	_, valid := ct.enrolAndIssue(1, "李四", testkit.IDNumber("310105198001", 1))
	for i := range ct.c.Nodes {
		ct.eventually(i, codes[burstSize-1], "ok")
		ct.eventually(i, valid, "ok")
	}
	// Kill the revocation stream's leader, which Guangdong publishes to.
	var leader string
	for _, s := range ct.info(0).Streams {
		if s.Asset == federation.AssetRevocations {
			leader = s.Leader
		}
	}
	killed := ct.server(leader)

	// A verify loop at every node, for the whole failover.
	stop := make(chan struct{})
	var verifies atomic.Int64
	var verifyErrs []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range ct.c.Nodes {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := ct.tryVerify(i, valid)
				verifies.Add(1)
				if err != nil || got != "ok" {
					mu.Lock()
					verifyErrs = append(verifyErrs, fmt.Sprintf("%s: %q %v", ct.c.Configs[i].Province, got, err))
					mu.Unlock()
				}
			}
		})
	}
	sent, acked := 0, []int{}
	for k := range burstSize {
		if k == burstSize/3 {
			ct.nats.Kill(killed)
		}
		sent++
		if ct.trySetStatus(0, subjects[k], "red") {
			acked = append(acked, k)
		}
	}
	arrived := 0
	for _, k := range acked {
		for i := 1; i < len(ct.c.Nodes); i++ {
			ct.eventually(i, codes[k], "revoked")
		}
		arrived++
	}
	close(stop)
	wg.Wait()
	t.Logf("revocations sent %d, acknowledged %d, arrived at every peer %d; %d verifications during the failover of %s",
		sent, len(acked), arrived, verifies.Load(), leader)
	if len(acked) != sent || arrived != len(acked) {
		t.Fatalf("sent %d, acknowledged %d, arrived %d", sent, len(acked), arrived)
	}
	if len(verifyErrs) > 0 {
		t.Fatalf("%d of %d verifications failed during the failover, e.g. %s", len(verifyErrs), verifies.Load(), verifyErrs[0])
	}
	ct.nats.Restart(killed)
	ct.nats.WaitStreamsCurrent(natstest.GlobalAccount, ct.streams()...)
	ct.waitHealthy()
}

func TestOnANATSClusterWithQuorumLostNodesVerifyFromWhatTheyHoldAndPublishTheOutboxOnReturn(t *testing.T) {
	natstest.SkipFailoverInShortRun(t)
	t.Parallel()
	ct := startOnNATSCluster(t)
	subject, code := ct.enrolAndIssue(0, "张三", "11010519491231002X")
	_, other := ct.enrolAndIssue(2, "李四", testkit.IDNumber("310105198001", 1))
	for i := range ct.c.Nodes {
		ct.eventually(i, code, "ok")
		ct.eventually(i, other, "ok")
	}
	ct.nats.Kill(0)
	ct.nats.Kill(1)
	for i := range ct.c.Nodes {
		if got := ct.verify(i, code); got != "ok" {
			t.Fatalf("%s without quorum: %s", ct.c.Configs[i].Province, got)
		}
		if got := ct.verify(i, other); got != "ok" {
			t.Fatalf("%s without quorum: %s", ct.c.Configs[i].Province, got)
		}
	}
	testkit.WaitFor(t, 30*time.Second, 50*time.Millisecond, "every node not ready, naming JetStream", func() error {
		for i, d := range ct.c.Nodes {
			resp, err := http.Get(d.URL + "/readyz")
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(body), "JetStream") {
				return fmt.Errorf("%s /readyz: %d %s", ct.c.Configs[i].Province, resp.StatusCode, body)
			}
		}
		return nil
	})
	var fv struct {
		Warnings       []string
		WarningDetails []federation.Warning `json:"warning_details"`
	}
	ct.call(1, "GET", "/v1/federation", "", nil, &fv)
	if !strings.Contains(strings.Join(fv.Warnings, "\n"), "JetStream revocations") {
		t.Fatalf("GET /v1/federation warnings without quorum: %q", fv.Warnings)
	}
	if !slices.ContainsFunc(fv.WarningDetails, func(w federation.Warning) bool {
		return strings.HasPrefix(string(w.Code), "stream_") && w.Params["asset"] == federation.AssetRevocations
	}) {
		t.Fatalf("GET /v1/federation warning details without quorum: %+v", fv.WarningDetails)
	}
	// A status change made now is committed, not published.
	ct.setStatus(0, subject, "red")
	if got := ct.verify(0, code); got != "revoked" {
		t.Fatalf("home node: %s", got)
	}
	ct.nats.Restart(0)
	ct.nats.Restart(1)
	for i := range ct.c.Nodes {
		ct.eventually(i, code, "revoked")
	}
	waitFor(t, "every node ready again", func() error {
		for i, d := range ct.c.Nodes {
			resp, err := http.Get(d.URL + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s /readyz: %d", ct.c.Configs[i].Province, resp.StatusCode)
			}
		}
		return nil
	})
}
