package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"
)

// clusterBlocks are the shipped cluster blocks of the production topology,
// which `hcnode nats-config --cluster-block` copies into each server's
// generated configuration.
var clusterBlocks = []string{"cluster/cluster-block-1.conf", "cluster/cluster-block-2.conf", "cluster/cluster-block-3.conf"}

// failoverWithin bounds how long a revocation published while a server is
// down may take to reach every peer. A source of a province's copy whose
// set-up meets the election of the origin's stream goes unanswered, and
// nats-server waits 30 s, then retries after a backoff growing by 10 s a
// failure up to 2 minutes (40.8 s in this test without the nodes'
// watchers); each node steps its account's copy down once a source has
// been quiet for 15 s (federation.Conn.WatchSources): 15.5 to 17.8 s in
// four runs.
const failoverWithin = 30 * time.Second

// rejoinWithin bounds how long the restarted server takes to hold a
// current replica of every asset again.
const rejoinWithin = 150 * time.Second

// TestProvincesWithOwnAccountsOnANATSClusterOfProcesses runs the
// production topology as separate processes: one NATS account per
// province, its configuration generated from the trust list by `hcnode
// nats-config` for each of three nats-server processes (with the shipped
// cluster blocks), the accounts' R3 assets made by `hcnode nats-setup
// --replicas 3`, the trust list published with the operators' seed, and
// nodes connecting with their own seed (nats.isolation: accounts). A
// revocation reaches every peer; with one server killed (SIGKILL), in the
// worst case for 310000's copy, revocations made then still reach every
// peer within failoverWithin; the server rejoins and catches up; and no
// server logged a refused operation.
func TestProvincesWithOwnAccountsOnANATSClusterOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hcnode and nats-server and runs a federation of processes on a NATS cluster")
	}
	t.Parallel() // mostly waits on processes and NATS timers; the federations share nothing
	fed := newFederation(t, 3)
	for _, p := range provinces {
		fed.initProvince(t, p.id, p.name)
	}
	list, sum := fed.makeTrustList(t)
	fed.startAccountsCluster(t, list)
	out := fed.procs.run(t, fed.root, fed.env, fed.bin.hcnode, "trust", "publish", list, "--nats", fed.natsURL,
		"--nkey-seed", filepath.Join(fed.root, "nats", "operator.nk"), "--replicas", "3")
	if !strings.Contains(out, "published trust list version 1") {
		t.Fatalf("hcnode trust publish:\n%s", out)
	}
	for _, p := range provinces {
		fed.writeConfig(t, p.id, list, sum)
		fed.useAccounts(t, p.id)
	}
	fed.startNodes(t)
	gd, sh, bj := fed.nodes["440000"], fed.nodes["310000"], fed.nodes["110000"]

	subject, code := gd.enrolAndIssue(t)
	waitValid(t, code, sh, bj)
	gd.setStatus(t, subject, "red")
	waitRevoked(t, code, gd, sh, bj)

	fv := natsViewOf(t, sh)
	if fv.Cluster != "hcfed-demo" || len(fv.Streams) == 0 {
		t.Fatalf("310000's view of NATS: %+v", fv)
	}
	for _, s := range fv.Streams {
		if s.Replicas != 3 || s.Error != "" {
			t.Errorf("%s: %d replicas (want 3), error %q", s.Asset, s.Replicas, s.Error)
		}
	}

	// Codes valid everywhere, then one server dies and they are revoked:
	// each revocation reaches every peer through the accounts' copies.
	type issued struct{ subject, code string }
	var codes []issued
	for range 2 {
		s, c := gd.enrolAndIssue(t)
		waitValid(t, c, sh, bj)
		codes = append(codes, issued{s, c})
	}
	// The worst case, made certain: server 1 leads 440000's own
	// revocation stream, and 310000's copy of the revocations sets its
	// source up again during that stream's election (its admin steps it
	// over to server 3 right after the kill). Nobody answers such a
	// set-up; nats-server waits 30 s and backs off 10 s more, unless
	// 310000's node steps its copy down (federation.Conn.WatchSources).
	urls := strings.Split(fed.natsURL, ",")
	gdAdmin, shAdmin := fed.adminConn(t, "440000", urls), fed.adminConn(t, "310000", urls[1:])
	moveStreamLeader(t, gdAdmin, "HCFED_demo_REV_440000", "hcfed-demo-1")
	moveStreamLeader(t, shAdmin, "HCFED_demo_REV", "hcfed-demo-2")
	killed := time.Now()
	fed.natsCluster[0].kill()
	waitFor(t, 10*time.Second, "310000's admin steps its copy over to server 3", func() error {
		return stepDown(shAdmin, "HCFED_demo_REV", "hcfed-demo-3")
	})
	for _, c := range codes {
		gd.setStatus(t, c.subject, "red")
	}
	for _, c := range codes {
		for _, n := range []*node{gd, sh, bj} {
			waitFor(t, failoverWithin, n.id+" rejects the code revoked with a server down", func() error {
				return verdict(n, c.code, "revoked")
			})
		}
	}
	t.Logf("revocations made with a server killed reached every peer %v after the kill; the nodes stepped %d of their accounts' copies down",
		time.Since(killed).Round(time.Millisecond), len(logLines(t, fed.root, "asked to step down")))

	// It comes back on its store and catches up.
	fed.startClusterMember(t, 0)
	waitAllCurrent(t, bj, rejoinWithin)

	if refused := natsRefusals(t, fed.root); len(refused) > 0 {
		t.Errorf("nats-server refused %d operations, the first:\n%s", len(refused), strings.Join(refused[:min(len(refused), 5)], "\n"))
	}
}

// startAccountsCluster generates each server's configuration from the
// trust list with `hcnode nats-config` (one account per province, seeds
// shared in nats/, the shipped cluster blocks with their ports moved to
// free ones), starts the three nats-server processes, waits until they
// can place R3 streams (startClusterMembers), and runs `hcnode nats-setup --replicas 3`.
func (fed *federation) startAccountsCluster(t *testing.T, trustList string) {
	t.Helper()
	moved := map[string]string{}
	for _, p := range []string{"6222", "6223", "6224"} {
		moved[p] = strconv.Itoa(freePort(t))
	}
	dir := filepath.Join(fed.root, "nats")
	var urls []string
	for i, name := range clusterBlocks {
		b, err := os.ReadFile(filepath.Join(repoConfigs, name))
		if err != nil {
			t.Fatal(err)
		}
		block := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(block, []byte(clusterPorts.ReplaceAllStringFunc(string(b), func(p string) string { return moved[p] })), 0o600); err != nil {
			t.Fatal(err)
		}
		port, conf := freePort(t), fmt.Sprintf("nats-%d.conf", i+1)
		fed.procs.run(t, fed.root, fed.env, fed.bin.hcnode, "nats-config", "--trust-list", trustList, "--out", dir,
			"--conf", conf, "--server-name", fmt.Sprintf("hcfed-demo-%d", i+1), "--host", "127.0.0.1",
			"--port", strconv.Itoa(port), "--store-dir", fmt.Sprintf("./data/nats-%d", i+1),
			"--cluster-block", block, "--replicas", "3")
		fed.natsConfs = append(fed.natsConfs, filepath.Join(dir, conf))
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(port))
	}
	fed.natsURL = strings.Join(urls, ",")
	fed.startClusterMembers(t)
	out := fed.procs.run(t, fed.root, fed.env, fed.bin.hcnode, "nats-setup", "--dir", dir, "--trust-list", trustList,
		"--nats", fed.natsURL, "--replicas", "3")
	if !strings.Contains(out, "done:") {
		t.Fatalf("hcnode nats-setup:\n%s", out)
	}
}

// useAccounts turns the province's config writeConfig wrote to accounts
// mode on the cluster: no user, its own seed, three replicas.
func (fed *federation) useAccounts(t *testing.T, id string) {
	t.Helper()
	path := fed.nodes[id].config
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	n := cfg["nats"].(map[string]any)
	delete(n, "user")
	n["isolation"], n["replicas"] = "accounts", 3
	n["nkey_seed_file"] = filepath.Join(fed.root, "nats", id+".nk")
	if b, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// natsRefusals are the lines of the processes' logs in which nats-server
// reported a permissions violation or a client was refused by one.
func natsRefusals(t *testing.T, root string) []string {
	t.Helper()
	return logLines(t, root, "Violation", "refused by permissions")
}

// logLines are the lines of the processes' logs that hold any of substrs,
// each prefixed with its log's name.
func logLines(t *testing.T, root string, substrs ...string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(root, "logs", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, sub := range substrs {
				if strings.Contains(line, sub) {
					found = append(found, filepath.Base(path)+": "+line)
					break
				}
			}
		}
	}
	return found
}

// adminConn connects to urls with province id's admin seed (the one
// nats-setup uses), closed at the end of the test.
func (fed *federation) adminConn(t *testing.T, id string, urls []string) *nats.Conn {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(filepath.Join(fed.root, "nats", id+"-admin.nk"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opt, nats.CustomInboxPrefix("_INBOX_"+id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// stepDown asks the leader of stream (in nc's account) to hand over to
// the server named to.
func stepDown(nc *nats.Conn, stream, to string) error {
	body := fmt.Sprintf(`{"placement":{"preferred":%q}}`, to)
	msg, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(body), 2*time.Second)
	if err != nil {
		return err
	}
	var resp struct {
		Success bool
		Error   *struct{ Description string }
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return fmt.Errorf("stepdown of %s refused: %+v", stream, resp.Error)
	}
	return nil
}

// moveStreamLeader makes the server named to lead stream.
func moveStreamLeader(t *testing.T, nc *nats.Conn, stream, to string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, stream+" led by "+to, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if c := s.CachedInfo().Cluster; c != nil && c.Leader == to {
			return nil
		} else if c != nil && c.Leader != "" {
			if err := stepDown(nc, stream, to); err != nil {
				return err
			}
		}
		return fmt.Errorf("not yet led by %s", to)
	})
}
