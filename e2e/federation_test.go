package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// provinces are the members of the test federation, as in configs/.
var provinces = []struct{ id, name string }{
	{"440000", "Guangdong"},
	{"310000", "Shanghai"},
	{"110000", "Beijing"},
}

// repoConfigs is the repository's configs directory, seen from this package.
const repoConfigs = "../configs"

// federation is a running federation of separate OS processes: one
// nats-server and one hcnode per province, laid out in root as an IT
// department would lay out a checkout of the repository:
//
//	configs/<id>.yaml   the shipped config, with ports and trust list filled in
//	data/<id>/          made by `hcnode init --data data/<id>`
//	ops/, trust/        operator keys and the signed trust list
//	nats/               nats-server's working directory (its JetStream store)
//	run/                the nodes' working directory, to show that relative
//	                    paths in a config are taken from the config's directory
type federation struct {
	bin     binaries
	procs   *procs
	root    string
	env     []string          // every process's base environment
	natsPW  map[string]string // NATS password by user of nats-server.conf
	natsURL string
	natsd   *proc
	nodes   map[string]*node
	// replicas is the nodes' nats.replicas and trust publish's
	// --replicas; 0 means 1. natsCluster are the nats-server processes of
	// a cluster (startNATSCluster), by server number - 1.
	replicas    int
	natsCluster []*proc
	// natsConfs are the configuration files of the cluster's servers, in
	// nats/, by server number - 1, and natsMonitors their monitoring
	// ports.
	natsConfs    []string
	natsMonitors []int
}

// node is one province's hcnode process and what the test knows of it.
type node struct {
	id, name string
	config   string // its config file
	proc     *proc
	url      string // HTTP base URL of the running process
	operator string // operator token printed by `hcnode init`
	scanner  string // token of a scanner registered through the API
}

// startFederation builds the binaries and starts a whole federation. The
// trust list is made with the CLI by three operators, two of whom sign.
func startFederation(t *testing.T) *federation {
	t.Helper()
	return startFederationOn(t, (*federation).startNATS, 1)
}

// startFederationOn is startFederation with the NATS side started by
// startNATS, and the nodes' nats.replicas set to replicas.
func startFederationOn(t *testing.T, startNATS func(*federation, *testing.T), replicas int) *federation {
	t.Helper()
	fed := newFederation(t, replicas)
	if replicas > 1 {
		fed.env = append(fed.env, "HCNODE_NATS_REPLICAS="+strconv.Itoa(replicas))
	}
	startNATS(fed, t)
	for _, p := range provinces {
		fed.initProvince(t, p.id, p.name)
	}
	list, sum := fed.makeTrustList(t)
	fed.publishTrustList(t, list)
	for _, p := range provinces {
		fed.writeConfig(t, p.id, list, sum)
	}
	fed.startNodes(t)
	return fed
}

// newFederation builds the binaries and lays out root; nothing runs yet.
func newFederation(t *testing.T, replicas int) *federation {
	t.Helper()
	fed := &federation{bin: buildBinaries(t), root: t.TempDir(), env: baseEnv(),
		natsPW: map[string]string{}, nodes: map[string]*node{}, replicas: replicas}
	for _, d := range []string{"configs", "data", "ops", "trust", "nats", "run", "logs"} {
		if err := os.Mkdir(filepath.Join(fed.root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	fed.procs = newProcs(t, filepath.Join(fed.root, "logs"))
	return fed
}

// startNodes starts every province's node with the config writeConfig
// wrote, waits until each serves, and registers a scanner at each.
func (fed *federation) startNodes(t *testing.T) {
	t.Helper()
	for _, p := range provinces { // start all, then wait for each
		fed.start(t, fed.nodes[p.id])
	}
	for _, p := range provinces {
		n := fed.nodes[p.id]
		n.url = nodeURL(t, n.proc)
		var sc struct{ Token string }
		call(t, "POST", n.url+"/v1/scanners", n.operator, map[string]string{"name": "e2e scanner", "place": "checkpoint"}, &sc, 201)
		n.scanner = sc.Token
	}
}

// startNATS starts nats-server with the shipped configuration on a free
// port, with random passwords in the environment variables it names.
func (fed *federation) startNATS(t *testing.T) {
	t.Helper()
	env := slices.Clone(fed.env)
	for _, user := range []string{"operator", "440000", "310000", "110000"} {
		fed.natsPW[user] = rand.Text()
		env = append(env, "HCFED_NATS_"+strings.ToUpper(user)+"_PASSWORD="+fed.natsPW[user])
	}
	conf, err := filepath.Abs(filepath.Join(repoConfigs, "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// The config's relative store_dir lands in nats/; -p -1 is a free port,
	// which nats-server writes to a ports file.
	dir := filepath.Join(fed.root, "nats")
	fed.natsd = fed.procs.start(t, "nats-server", dir, env, fed.bin.natsd, "-c", conf, "-p", "-1", "--ports_file_dir", dir)
	waitFor(t, 10*time.Second, "nats-server ports file", func() error {
		if fed.natsd.exited() {
			t.Fatalf("nats-server exited: %v\n%s", fed.natsd.err, fed.natsd.output())
		}
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("nats-server_%d.ports", fed.natsd.cmd.Process.Pid)))
		if err != nil {
			return err
		}
		var ports struct{ Nats []string }
		if err := json.Unmarshal(b, &ports); err != nil || len(ports.Nats) == 0 {
			return fmt.Errorf("ports file %q: %v", b, err)
		}
		fed.natsURL = ports.Nats[0]
		return nil
	})
}

var tokenLine = regexp.MustCompile(`admin token:\s+(\S+)`)

// initProvince runs `hcnode init` as the README says, from root.
func (fed *federation) initProvince(t *testing.T, id, name string) {
	t.Helper()
	out := fed.procs.run(t, fed.root, fed.env, fed.bin.hcnode, "init", "--province", id, "--name", name, "--data", "data/"+id)
	m := tokenLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("hcnode init printed no admin token:\n%s", out)
	}
	fed.nodes[id] = &node{id: id, name: name, operator: m[1], config: filepath.Join(fed.root, "configs", id+".yaml")}
}

var sumLine = regexp.MustCompile(`sha256 ([0-9a-f]{64})`)

// makeTrustList has three operators make keys, proposes a first trust
// list naming every province with k = 2, has operators 1 and 3 sign it,
// and checks it as a node would. It returns the file and its SHA-256 as
// printed by `hcnode trust verify`.
func (fed *federation) makeTrustList(t *testing.T) (path, sum string) {
	t.Helper()
	hc := func(args ...string) string { return fed.procs.run(t, fed.root, fed.env, fed.bin.hcnode, args...) }
	propose := []string{"trust", "propose", "--federation", "demo", "--threshold", "2", "--out", "trust/proposal.json"}
	for i := 1; i <= 3; i++ {
		op := fmt.Sprintf("op%d", i)
		hc("trust", "keygen", "--out", "ops/"+op)
		propose = append(propose, "--add-operator", fmt.Sprintf("%s:Operator %d:ops/%s.pub.jwk", op, i, op))
	}
	for _, p := range provinces {
		propose = append(propose, "--add-member", p.id+":"+p.name+":data/"+p.id+"/root.pub.jwk")
	}
	hc(propose...)
	hc("trust", "sign", "--key", "ops/op1.key", "--in", "trust/proposal.json", "--out", "trust/trustlist.json")
	hc("trust", "sign", "--key", "ops/op3.key", "--in", "trust/trustlist.json", "--out", "trust/trustlist.json")
	out := hc("trust", "verify", "trust/trustlist.json")
	m := sumLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "nodes would accept version 1") {
		t.Fatalf("hcnode trust verify:\n%s", out)
	}
	path = filepath.Join(fed.root, "trust", "trustlist.json")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(doc); hex.EncodeToString(h[:]) != m[1] {
		t.Fatalf("hcnode trust verify printed sha256 %s, the file's is %x", m[1], h)
	}
	if show := hc("trust", "show", "trust/trustlist.json"); !strings.Contains(show, "signed by 2 of 3 operators (2 needed), sha256 "+m[1]) {
		t.Fatalf("hcnode trust show disagrees with verify:\n%s", show)
	}
	return path, m[1]
}

// publishTrustList publishes the trust list as the federation operator
// user of nats-server.conf, with the password from the environment.
func (fed *federation) publishTrustList(t *testing.T, path string) {
	t.Helper()
	env := slices.Concat(fed.env, []string{"HCNODE_NATS_USER=operator", "HCNODE_NATS_PASSWORD=" + fed.natsPW["operator"]})
	out := fed.procs.run(t, fed.root, env, fed.bin.hcnode, "trust", "publish", path, "--nats", fed.natsURL,
		"--replicas", strconv.Itoa(max(fed.replicas, 1)))
	if !strings.Contains(out, "published trust list version 1") {
		t.Fatalf("hcnode trust publish:\n%s", out)
	}
}

// writeConfig writes the province's shipped configs/<id>.yaml into root,
// after checking what the shipped file promises, with only what a
// deployment must fill in changed: the NATS URL, the trust list and its
// pin, and (for the test) free HTTP and metrics ports. data_dir stays
// relative.
func (fed *federation) writeConfig(t *testing.T, id, trustList, sum string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoConfigs, id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("configs/%s.yaml: %v", id, err)
	}
	nats, _ := cfg["nats"].(map[string]any)
	trust, _ := cfg["trust"].(map[string]any)
	switch {
	case cfg["province"] != id:
		t.Fatalf("configs/%s.yaml: province %v", id, cfg["province"])
	case cfg["data_dir"] != "../data/"+id:
		t.Fatalf("configs/%s.yaml: data_dir %v, want ../data/%s (relative to the config file)", id, cfg["data_dir"], id)
	case nats == nil || nats["embedded"] != false || nats["user"] != id || nats["urls"] == nil:
		t.Fatalf("configs/%s.yaml: nats %v: want embedded false, urls, and user %s of nats-server.conf", id, nats, id)
	case nats["password"] != nil:
		t.Fatalf("configs/%s.yaml holds a NATS password", id)
	case trust == nil || trust["list_file"] == nil || trust["list_sha256"] == nil:
		t.Fatalf("configs/%s.yaml: trust %v: want list_file and list_sha256 placeholders", id, trust)
	}
	nats["urls"] = strings.Split(fed.natsURL, ",")
	trust["list_file"], trust["list_sha256"] = trustList, sum
	cfg["listen"], cfg["metrics_listen"] = "127.0.0.1:0", "127.0.0.1:0"
	if b, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fed.nodes[id].config, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start starts n's `hcnode serve` with its NATS password in the
// environment, plus env. It does not wait: nodeURL does.
func (fed *federation) start(t *testing.T, n *node, env ...string) {
	t.Helper()
	env = slices.Concat(fed.env, []string{"HCNODE_NATS_PASSWORD=" + fed.natsPW[n.id]}, env)
	n.proc = fed.procs.start(t, "hcnode-"+n.id, filepath.Join(fed.root, "run"), env, fed.bin.hcnode, "serve", "--config", n.config)
}

// restart starts n again after it was killed and waits until it serves.
func (fed *federation) restart(t *testing.T, n *node, env ...string) {
	t.Helper()
	if !n.proc.exited() {
		t.Fatalf("%s is still running", n.id)
	}
	fed.start(t, n, env...)
	n.url = nodeURL(t, n.proc)
}

// nodeURL waits for p's "node started" log line and returns its URL. The
// nodes listen on port 0, so the log is the only place the port is known.
func nodeURL(t *testing.T, p *proc) string {
	t.Helper()
	var url string
	waitFor(t, 15*time.Second, p.name+" serving", func() error {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.output())
		}
		f, err := os.Open(p.log)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "node started" && rec.URL != "" {
				url = rec.URL
				return nil
			}
		}
		return fmt.Errorf("no \"node started\" line in %s yet", p.log)
	})
	return url
}
