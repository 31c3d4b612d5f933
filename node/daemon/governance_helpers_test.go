package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// startFederationWith is startFederation with the cluster's logger, clock
// and other settings of cc.
func startFederationWith(t *testing.T, cc daemon.ClusterConfig) *fedTest {
	t.Helper()
	cc.Dir = t.TempDir()
	cc.Configure = scannerFriendly
	c, err := daemon.StartCluster(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	f := &fedTest{t: t, c: c}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	return f
}

// scannerFriendly is the province configuration of startFederation.
func scannerFriendly(cfg *config.Config) {
	cfg.Privacy.Collect = []string{"name", "id_number"}
	cfg.Limits.ScannerRate, cfg.Limits.ScannerBurst = 1000, 1000
}

func (f *fedTest) addScanner(i int) {
	f.t.Helper()
	sc, err := f.c.Nodes[i].Node.AddScanner(context.Background(), node.Principal{Role: node.RoleOperator}, "gate", "checkpoint")
	if err != nil {
		f.t.Fatal(err)
	}
	f.scanners = append(f.scanners, sc.Token)
}

// addProvince starts province p in the running federation; it returns its index.
func (f *fedTest) addProvince(p daemon.Province) int {
	f.t.Helper()
	if _, err := f.c.AddProvince(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
	f.addScanner(len(f.c.Nodes) - 1)
	return len(f.c.Nodes) - 1
}

func (f *fedTest) rotate(i int) {
	f.t.Helper()
	if st := f.call(i, "POST", "/v1/keys/rotate", f.c.Tokens[i], nil, nil); st != 200 {
		f.t.Fatalf("rotate: %d", st)
	}
}

// held is the trust list the first node holds.
func (f *fedTest) held() *trust.ParsedTrustList { return f.c.Nodes[0].Node.State().TrustList() }

// publish puts a trust list document in the state bucket, as
// 'hcnode trust publish' does (without its acceptance check).
func (f *fedTest) publish(doc []byte) {
	f.t.Helper()
	if err := f.c.PublishTrustList(context.Background(), doc); err != nil {
		f.t.Fatal(err)
	}
}

// waitVersion waits until every node holds trust list version v.
func (f *fedTest) waitVersion(v uint64) {
	f.t.Helper()
	for _, d := range f.c.Nodes {
		waitFor(f.t, d.Node.Province()+" applying trust list v"+strconv.FormatUint(v, 10), func() error {
			if got := d.Node.State().TrustList().Version; got != v {
				return fmt.Errorf("holds v%d", got)
			}
			return nil
		})
	}
}

// requireHeld checks that every node holds want, in its state and on
// GET /.well-known/hcfed/trustlist.
func (f *fedTest) requireHeld(attack string, want *trust.ParsedTrustList) {
	f.t.Helper()
	for _, d := range f.c.Nodes {
		if got := d.Node.State().TrustList(); got.Version != want.Version || !bytes.Equal(got.Raw, want.Raw) {
			f.t.Fatalf("%s: %s holds v%d, want v%d", attack, d.Node.Province(), got.Version, want.Version)
		}
		resp, err := http.Get(d.URL + "/.well-known/hcfed/trustlist")
		if err != nil {
			f.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(body, want.Raw) {
			f.t.Fatalf("%s: %s serves a trust list other than the one held (%d bytes)", attack, d.Node.Province(), len(body))
		}
	}
}

// requireLogged waits until each node has logged exactly n warnings of
// a refused trust list for reason (the count is kept before the line is
// written, so the line may trail it).
func (f *fedTest) requireLogged(logs *syncBuffer, reason string, n int) {
	f.t.Helper()
	for _, cfg := range f.c.Configs {
		waitFor(f.t, cfg.Province+" logging refusals for "+reason, func() error {
			got := 0
			for _, l := range logs.lines(f.t) {
				if l["level"] == "WARN" && l["msg"] == "statement rejected" && l["kind"] == "trustlist" &&
					l["reason"] == reason && l["self"] == cfg.Province {
					got++
				}
			}
			if got != n {
				return fmt.Errorf("%d warnings, want %d", got, n)
			}
			return nil
		})
	}
}

// requireLine waits for a log line whose message starts with msg, of kind
// trustlist, from province.
func (f *fedTest) requireLine(logs *syncBuffer, msg, province string) {
	f.t.Helper()
	waitFor(f.t, province+" logging "+msg, func() error {
		for _, l := range logs.lines(f.t) {
			if m, _ := l["msg"].(string); strings.HasPrefix(m, msg) && l["kind"] == "trustlist" && l["province"] == province {
				return nil
			}
		}
		return fmt.Errorf("no such line")
	})
}

// requireNotLogged checks that no part of a statement — payload or
// signature — reached the logs.
func requireNotLogged(t *testing.T, logs *syncBuffer, attack string, doc []byte) {
	t.Helper()
	var d struct {
		Payload    string
		Signatures []struct{ Signature string }
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	parts := []string{d.Payload[:40]}
	for _, s := range d.Signatures {
		parts = append(parts, s.Signature[:40])
	}
	all := logs.String()
	for _, p := range parts {
		if strings.Contains(all, p) {
			t.Fatalf("%s: the log holds bytes of the statement (%s...)", attack, p[:16])
		}
	}
}

func (f *fedTest) waitMetric(d *daemon.Daemon, series string, want float64) {
	f.t.Helper()
	waitFor(f.t, d.Node.Province()+" counting "+series, func() error {
		if got := metricValue(f.t, d, series); got != want {
			return fmt.Errorf("%v, want %v", got, want)
		}
		return nil
	})
}

func (f *fedTest) waitMetricBelow(d *daemon.Daemon, series string, limit float64) {
	f.t.Helper()
	waitFor(f.t, d.Node.Province()+" "+series+" below "+fmt.Sprint(limit), func() error {
		if got := metricValue(f.t, d, series); got >= limit {
			return fmt.Errorf("%v", got)
		}
		return nil
	})
}

// metricValue reads one series from GET /metrics; 0 if absent.
func metricValue(t *testing.T, d *daemon.Daemon, series string) float64 {
	t.Helper()
	return metricSum(t, d, series, "\x00")
}

// metricSum adds the values of the series of GET /metrics whose name and
// labels start with prefix, leaving out those containing except.
func metricSum(t *testing.T, d *daemon.Daemon, prefix, except string) float64 {
	t.Helper()
	resp, err := http.Get(d.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, prefix) || strings.Contains(name, except) {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		sum += v
	}
	return sum
}

// waitFor polls cond until it returns nil, failing the test after 15 s.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, what, cond)
}

// poll is testkit.Poll: the one wait every test here uses.
var poll = testkit.Poll

// propose is trust.Propose, failing the test on error.
func propose(t *testing.T, cur trust.TrustList, now time.Time, changes ...trust.Change) trust.TrustList {
	t.Helper()
	next, err := trust.Propose(cur, changes, now)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// signWith signs tl with each key in turn, repeats included.
func signWith(t *testing.T, tl trust.TrustList, keys ...*ecdsa.PrivateKey) []byte {
	t.Helper()
	payload, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	var doc []byte
	for _, k := range keys {
		if doc, err = trust.SignTrustList(doc, payload, k); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

// replaceOperators lists the changes that swap tl's operators for keys.
func replaceOperators(t *testing.T, tl trust.TrustList, keys []*ecdsa.PrivateKey) []trust.Change {
	t.Helper()
	var cs []trust.Change
	for i, k := range keys {
		cs = append(cs, trust.Change{Op: "add-operator", ID: fmt.Sprintf("mallory%d", i), Key: jwkOf(t, &k.PublicKey)})
	}
	for _, o := range tl.Operators {
		cs = append(cs, trust.Change{Op: "remove-operator", ID: o.ID})
	}
	return cs
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := trust.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwkOf(t *testing.T, pub *ecdsa.PublicKey) json.RawMessage {
	t.Helper()
	jwk, err := trust.PublicJWK(pub, "sig")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func containsPrefix(ss []string, prefix string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// syncBuffer is a log sink safe for the nodes' goroutines and the test,
// which reads it as JSON lines.
type syncBuffer struct{ testkit.Buffer }

// lines decodes the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// testClock is the nodes' injected clock: real time plus an offset.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
