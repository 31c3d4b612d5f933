package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// clusterConfigs are the shipped configs of a 3-server NATS cluster.
var clusterConfigs = []string{"cluster/nats-1.conf", "cluster/nats-2.conf", "cluster/nats-3.conf"}

// TestProvincesOnANATSClusterOfProcesses runs the federation as separate
// OS processes on three nats-server processes with the shipped cluster
// configs (configs/cluster/), every asset R3, and checks over HTTP that
// codes verify across provinces and revocations reach every peer, also
// while one nats-server is killed with SIGKILL and after it rejoins.
func TestProvincesOnANATSClusterOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hcnode and nats-server and runs a federation of processes on a NATS cluster")
	}
	t.Parallel() // mostly waits on processes and NATS timers; the federations share nothing
	fed := startFederationOn(t, (*federation).startNATSCluster, 3)
	gd, sh, bj := fed.nodes["440000"], fed.nodes["310000"], fed.nodes["110000"]

	subject, code := gd.enrolAndIssue(t)
	waitValid(t, code, sh, bj)
	gd.setStatus(t, subject, "red")
	waitRevoked(t, code, gd, sh, bj)

	fv := natsViewOf(t, sh)
	if fv.Cluster != "hcfed-demo" || len(fv.Streams) != 3 {
		t.Fatalf("310000's view of NATS: %+v", fv)
	}
	for _, s := range fv.Streams {
		if s.Replicas != 3 {
			t.Fatalf("%s has %d replicas, want 3", s.Asset, s.Replicas)
		}
	}

	// One nats-server dies; revocations go on reaching every peer.
	fed.natsCluster[0].kill()
	subject, code = gd.enrolAndIssue(t)
	waitValid(t, code, sh, bj)
	gd.setStatus(t, subject, "red")
	waitRevoked(t, code, gd, sh, bj)

	// It comes back on the same store and catches up: three current
	// replicas of every asset again, as the nodes see it.
	fed.startClusterMember(t, 0)
	waitAllCurrent(t, bj, convergeWithin)

	if refused := natsRefusals(t, fed.root); len(refused) > 0 {
		t.Errorf("nats-server refused %d operations, the first:\n%s", len(refused), strings.Join(refused[:min(len(refused), 5)], "\n"))
	}
}

// clusterPorts matches the ports the shipped cluster configs use: client
// 4222-4224, cluster 6222-6224.
var clusterPorts = regexp.MustCompile(`\b(422[234]|622[234])\b`)

// startNATSCluster starts three nats-server processes with the shipped
// cluster configs, only their ports moved to free ones, and waits until
// the cluster can place R3 streams (startClusterMembers).
func (fed *federation) startNATSCluster(t *testing.T) {
	t.Helper()
	for _, user := range []string{"operator", "440000", "310000", "110000"} {
		fed.natsPW[user] = rand.Text()
	}
	moved := map[string]string{}
	for _, p := range []string{"4222", "4223", "4224", "6222", "6223", "6224"} {
		moved[p] = strconv.Itoa(freePort(t))
	}
	var urls []string
	for i, name := range clusterConfigs {
		b, err := os.ReadFile(filepath.Join(repoConfigs, name))
		if err != nil {
			t.Fatal(err)
		}
		conf := clusterPorts.ReplaceAllStringFunc(string(b), func(p string) string { return moved[p] })
		path := filepath.Join(fed.root, "nats", filepath.Base(name))
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		fed.natsConfs = append(fed.natsConfs, path)
		urls = append(urls, "nats://127.0.0.1:"+moved[strconv.Itoa(4222+i)])
	}
	fed.natsURL = strings.Join(urls, ",")
	fed.startClusterMembers(t)
}

// startClusterMember starts (or restarts) nats-server i of the cluster,
// in the nats/ directory so its relative store_dir lands there, with its
// monitoring port (on the config's host) for jetStreamPlacementReady.
func (fed *federation) startClusterMember(t *testing.T, i int) {
	t.Helper()
	env := slices.Clone(fed.env)
	for user, pw := range fed.natsPW {
		env = append(env, "HCFED_NATS_"+strings.ToUpper(user)+"_PASSWORD="+pw)
	}
	dir := filepath.Join(fed.root, "nats")
	fed.natsCluster[i] = fed.procs.start(t, fmt.Sprintf("nats-server-%d", i+1), dir, env, fed.bin.natsd, "-c", fed.natsConfs[i],
		"-m", strconv.Itoa(fed.natsMonitors[i]))
}

// freePort is testkit.FreePort: a port for a nats-server process that
// must be told it (its cluster routes) before it starts.
func freePort(t *testing.T) int {
	t.Helper()
	return testkit.FreePort(t)
}

// TestClusterConfigsAreTheSingleServerAccountsOnThreeRoutedServers checks
// that configs/cluster/nats-{1,2,3}.conf parse, form one JetStream
// cluster of three distinct servers, and carry the accounts and
// permissions of configs/nats-server.conf unchanged.
func TestClusterConfigsAreTheSingleServerAccountsOnThreeRoutedServers(t *testing.T) {
	for _, user := range []string{"OPERATOR", "440000", "310000", "110000"} {
		t.Setenv("HCFED_NATS_"+user+"_PASSWORD", "pw")
	}
	single, err := os.ReadFile(filepath.Join(repoConfigs, "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	accounts := string(single[strings.Index(string(single), "accounts {"):])
	names, ports := map[string]bool{}, map[int]bool{}
	for _, name := range clusterConfigs {
		path := filepath.Join(repoConfigs, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(b), accounts) {
			t.Errorf("%s: the accounts block differs from nats-server.conf's", name)
		}
		var o server.Options
		if err := o.ProcessConfigFile(path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !o.JetStream || o.Cluster.Name != "hcfed-demo" || len(o.Routes) != 3 || o.Cluster.Port == 0 {
			t.Errorf("%s: jetstream %v, cluster %q on port %d, %d routes", name, o.JetStream, o.Cluster.Name, o.Cluster.Port, len(o.Routes))
		}
		names[o.ServerName], ports[o.Port], ports[o.Cluster.Port] = true, true, true
	}
	if len(names) != 3 || len(ports) != 6 {
		t.Errorf("server names %v and ports %v are not distinct", names, ports)
	}
}

// natsView is what a node's GET /v1/federation says of NATS.
type natsView struct {
	Cluster string
	Streams []struct {
		Asset, Error      string
		Replicas, Current int
	}
}

// natsViewOf reads n's view of NATS.
func natsViewOf(t *testing.T, n *node) natsView {
	t.Helper()
	var fv struct{ NATS natsView }
	call(t, "GET", n.url+"/v1/federation", "", nil, &fv, 200)
	return fv.NATS
}

// waitAllCurrent waits until n sees three current replicas of every asset.
func waitAllCurrent(t *testing.T, n *node, within time.Duration) {
	t.Helper()
	waitFor(t, within, "every asset with three current replicas", func() error {
		for _, s := range natsViewOf(t, n).Streams {
			if s.Current != 3 {
				return fmt.Errorf("%s: %d current replicas", s.Asset, s.Current)
			}
		}
		return nil
	})
}
