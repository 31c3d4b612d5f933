package daemon_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// Replica timings in these tests: a refresh every 200 ms, refused past
// 2 s without one.
const (
	replicaRefresh  = 200 * time.Millisecond
	replicaMaxStale = 2 * time.Second
	// removalBound is the stated bound: a scanner removed at home is
	// refused at every replica within replica.refresh plus one request
	// (whose timeout is replica.refresh, at least 1 s).
	removalBound = replicaRefresh + time.Second
)

// replicaTest is a federation with verifier replicas of province 0.
type replicaTest struct {
	*fedTest
	replicas []*daemon.Verifier
	dirs     []string
	cfgs     []config.Config
	// configure, when set, adjusts a replica's config before it starts.
	configure func(*config.Config)
}

// runReplica starts a replica with cfg until the test ends.
func (f *replicaTest) runReplica(cfg config.Config, opt ...daemon.Options) *daemon.Verifier {
	f.t.Helper()
	v, err := daemon.StartVerifier(context.Background(), cfg, append(opt, daemon.Options{})[0])
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { v.Close() })
	return v
}

// startReplica registers a replica named name at province i and starts it.
func (f *replicaTest) startReplica(i int, name string, opt ...daemon.Options) *daemon.Verifier {
	f.t.Helper()
	var added node.NewReplica
	f.mustCall(i, "POST", "/v1/replicas", f.c.Tokens[i], map[string]string{"name": name}, &added, 201)
	cfg := f.c.Configs[i]
	cfg.Role, cfg.DataDir, cfg.Listen = config.RoleVerifier, filepath.Join(f.t.TempDir(), name), "127.0.0.1:0"
	cfg.Replica = config.Replica{Home: f.c.Nodes[i].URL, Token: added.Token, Refresh: replicaRefresh,
		MaxStale: replicaMaxStale, SendEvery: 100 * time.Millisecond}
	if f.configure != nil {
		f.configure(&cfg)
	}
	v := f.runReplica(cfg, opt...)
	f.replicas, f.dirs, f.cfgs = append(f.replicas, v), append(f.dirs, cfg.DataDir), append(f.cfgs, cfg)
	f.confirmReplica(i, name, v)
	waitFor(f.t, name+" ready", func() error {
		if st, body := httpDo(f.t, "GET", v.URL+"/readyz", "", nil); st != 200 {
			return fmt.Errorf("readyz %d %s", st, body)
		}
		return nil
	})
	return v
}

// confirmReplica waits until replica v's /readyz says that home does
// not trust its keys yet and what to run there, and runs it, as an
// operator does: 'hcnode replica confirm NAME FINGERPRINT' at home
// province i, with the fingerprint the replica printed.
func (f *replicaTest) confirmReplica(i int, name string, v *daemon.Verifier) {
	f.t.Helper()
	fp := v.Replica.Fingerprint()
	want := "'hcnode replica confirm " + name + " " + fp + "'"
	waitFor(f.t, name+" unconfirmed", func() error {
		st, body := httpDo(f.t, "GET", v.URL+"/readyz", "", nil)
		if st != 503 || !strings.Contains(body, `"check":"replica_unconfirmed"`) || !strings.Contains(body, want) {
			return fmt.Errorf("readyz %d %s, want 503 replica_unconfirmed saying %s", st, body, want)
		}
		return nil
	})
	f.mustCall(i, "POST", "/v1/replicas/"+name+"/confirm", f.c.Tokens[i], map[string]string{"fingerprint": fp}, nil, 200)
}

// httpDo makes a request and returns the status and body.
func httpDo(t *testing.T, method, url, token string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// verifyAt verifies code at replica r with a scanner token and returns
// the reason, or the error code of a refusal.
func (f *replicaTest) verifyAt(r *daemon.Verifier, token, code string) string {
	f.t.Helper()
	st, body := httpDo(f.t, "POST", r.URL+"/v1/verify", token, map[string]string{"code": code})
	var out struct {
		Reason string
		Error  struct{ Code string }
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		f.t.Fatalf("verify at replica: %d %s", st, body)
	}
	if st != 200 {
		return out.Error.Code
	}
	return out.Reason
}

// eventuallyAtReplicas waits until every replica answers want.
func (f *replicaTest) eventuallyAtReplicas(token, code, want string, within time.Duration) {
	f.t.Helper()
	for k, r := range f.replicas {
		err := poll(within, 10*time.Millisecond, func() error {
			if got := f.verifyAt(r, token, code); got != want {
				return fmt.Errorf("replica %d says %q, want %q", k, got, want)
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// restartWithoutNATS closes replica k and starts it again with NATS
// unreachable, as its home node still answers it.
func (f *replicaTest) restartWithoutNATS(k int) *daemon.Verifier {
	f.t.Helper()
	if err := f.replicas[k].Close(); err != nil {
		f.t.Fatal(err)
	}
	cfg := f.cfgs[k]
	cfg.NATS.URLs = unreachableNATS
	f.replicas[k] = f.runReplica(cfg)
	return f.replicas[k]
}

// refusedUntilBackOnNATS checks that replica k, cut off from NATS and
// behind its home node, refuses scanners within replica.max_stale and
// says at /readyz what it lacks (naming what); then, restarted on NATS,
// that it answers want for code.
func (f *replicaTest) refusedUntilBackOnNATS(k int, code, what, want string) {
	f.t.Helper()
	f.eventuallyAtReplicas(f.scanners[0], code, string(node.EReplicaStale), replicaMaxStale+10*time.Second)
	// /readyz names the first reason it finds: on a loaded machine a
	// refresh late by more than replica.max_stale (2 s here) is named
	// before the lag, for as long as it lasts.
	err := poll(10*time.Second, 50*time.Millisecond, func() error {
		if st, body := httpDo(f.t, "GET", f.replicas[k].URL+"/readyz", "", nil); st != 503 || !strings.Contains(body, what) {
			return fmt.Errorf("%d %s", st, body)
		}
		return nil
	})
	if err != nil {
		f.t.Errorf("readyz behind home's %s: %v, want 503 naming it", what, err)
	}
	if err := f.replicas[k].Close(); err != nil {
		f.t.Fatal(err)
	}
	f.replicas[k] = f.runReplica(f.cfgs[k])
	f.eventuallyAtReplicas(f.scanners[0], code, want, 15*time.Second)
}

// startOneReplica starts Guangdong alone with one replica, r1.
func startOneReplica(t *testing.T) (*fedTest, *replicaTest) {
	f := startFederation(t, threeProvinces[:1], nil)
	rt := &replicaTest{fedTest: f}
	rt.startReplica(0, "r1")
	return f, rt
}

func startReplicaFederation(t *testing.T) *replicaTest {
	f := startFederation(t, threeProvinces[:2], func(cfg *config.Config) { cfg.Privacy.ReceiptsEvery = time.Second })
	rt := &replicaTest{fedTest: f}
	rt.startReplica(0, "r1")
	rt.startReplica(0, "r2")
	return rt
}

// Two replicas of Guangdong verify Guangdong's and Shanghai's codes for
// Guangdong's scanners, refuse a code revoked at home, refuse a scanner
// removed at home within the stated bound, send their scans home (audit,
// the resident's history, the receipt to Shanghai), refuse every
// non-verify route, and hold no personal data and no key rows.
func TestVerifierReplicasFollowHomeAndHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	f := startReplicaFederation(t)
	people := []person{{"黄小明", idWithCheck("44010619900101123"), ""}, {"周建国", idWithCheck("31011519700707789"), ""}}
	subjectA, codeA := f.enrolAndIssue(0, people[0].name, people[0].id)
	subjectB, codeB := f.enrolAndIssue(1, people[1].name, people[1].id)
	gd := f.scanners[0]
	f.eventuallyAtReplicas(gd, codeA, "ok", 15*time.Second)
	f.eventuallyAtReplicas(gd, codeB, "ok", 15*time.Second)
	if got := f.verifyAt(f.replicas[0], f.scanners[1], codeA); got != string(node.EUnauthorized) {
		t.Errorf("Shanghai's scanner at a Guangdong replica: %q, want unauthorized", got)
	}

	// The scans reached home: the resident's history at Guangdong, the
	// audit log naming the replica, and Shanghai's receipt for its code.
	waitFor(t, "replica scans in the resident's history", func() error {
		var hist struct{ Verifications []node.VerificationRecord }
		f.mustCall(0, "GET", "/v1/subjects/"+subjectA+"/verifications", f.c.Tokens[0], nil, &hist, 200)
		if len(hist.Verifications) < 2 {
			return fmt.Errorf("%d verifications in the history", len(hist.Verifications))
		}
		return nil
	})
	replicasSeen := map[string]bool{}
	for _, e := range f.auditEntries(0) {
		var d struct{ Replica string }
		if e.Action == "code.verify" && json.Unmarshal([]byte(e.Detail), &d) == nil && d.Replica != "" {
			replicasSeen[d.Replica] = true
			if !strings.HasPrefix(e.Actor, "scanner:sc_") {
				t.Errorf("replica scan audited as %q, want the scanner", e.Actor)
			}
		}
	}
	if !replicasSeen["r1"] || !replicasSeen["r2"] {
		t.Errorf("audit names replicas %v, want r1 and r2", replicasSeen)
	}
	waitFor(t, "Shanghai's receipt of a scan at a Guangdong replica", func() error {
		var hist struct{ Verifications []node.VerificationRecord }
		f.mustCall(1, "GET", "/v1/subjects/"+subjectB+"/verifications", f.c.Tokens[1], nil, &hist, 200)
		for _, h := range hist.Verifications {
			if h.Province == "440000" {
				return nil
			}
		}
		return fmt.Errorf("no receipt from 440000 in %d records", len(hist.Verifications))
	})

	// Revoked at home: refused by both replicas.
	f.setStatus(0, subjectA, "red")
	f.eventuallyAtReplicas(gd, codeA, "revoked", 15*time.Second)

	// A scanner added at home works at both; removed, it is refused by
	// both within the bound.
	sc, err := f.c.Nodes[0].Node.AddScanner(context.Background(), node.Principal{Role: node.RoleOperator}, "gate 2", "station")
	if err != nil {
		t.Fatal(err)
	}
	f.eventuallyAtReplicas(sc.Token, codeB, "ok", 15*time.Second)
	f.mustCall(0, "DELETE", "/v1/scanners/"+sc.ID, f.c.Tokens[0], nil, nil, 204)
	f.eventuallyAtReplicas(sc.Token, codeB, string(node.EUnauthorized), removalBound+5*time.Second)

	// Every other route is refused with the stable reason.
	for _, r := range []struct{ method, path, token string }{
		{"POST", "/v1/subjects", f.c.Tokens[0]},
		{"POST", "/v1/subjects/" + subjectA + "/codes", f.c.Tokens[0]},
		{"PUT", "/v1/subjects/" + subjectA + "/status", f.c.Tokens[0]},
		{"GET", "/v1/scanners", f.c.Tokens[0]},
		{"POST", "/v1/replicas", f.c.Tokens[0]},
		{"GET", "/v1/subjects/" + subjectA + "/verifications", f.c.Tokens[0]},
		{"GET", "/wallet", ""},
	} {
		st, body := httpDo(t, r.method, f.replicas[0].URL+r.path, r.token, map[string]string{})
		if st != 403 || !strings.Contains(body, `"code":"`+string(node.ERoleVerifier)+`"`) {
			t.Errorf("%s %s at a replica: %d %s, want 403 %s", r.method, r.path, st, body, node.ERoleVerifier)
		}
	}
	for _, u := range []string{f.replicas[0].URL + "/healthz", f.replicas[0].MetricsURL, f.replicas[0].URL + "/v1/federation"} {
		if st, body := httpDo(t, "GET", u, "", nil); st != 200 {
			t.Errorf("GET %s at a replica: %d %s", u, st, body)
		}
	}

	for _, r := range f.replicas {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var secrets []string
	for _, p := range people {
		secrets = append(secrets, p.name, p.id)
	}
	for _, dir := range f.dirs {
		requireNoPersonalDataOrKeys(t, dir, secrets)
	}
}

// requireNoPersonalDataOrKeys searches every file of a replica's data
// directory for the secrets, and checks that it has no node database, no
// key store and no table but the replica's own.
func requireNoPersonalDataOrKeys(t *testing.T, dir string, secrets []string) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		files = append(files, filepath.Base(path))
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q found in clear in replica file %s", s, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "replica.db") {
		t.Fatalf("no replica.db among %v: the search checked less than it says", files)
	}
	for _, f := range files {
		if strings.HasPrefix(f, "node.db") || strings.HasPrefix(f, "keys.db") {
			t.Errorf("replica data directory holds %s", f)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "replica.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if want := []string{"replica_meta", "replica_outbox", "replica_statements"}; !slices.Equal(tables, want) {
		t.Errorf("replica tables %v, want only %v", tables, want)
	}
}

// With its home node down for longer than replica.max_stale, a replica
// refuses every scanner (replica_stale) and /readyz answers 503.
func TestVerifierReplicaRefusesScannersWhenHomeUnreachablePastMaxStale(t *testing.T) {
	t.Parallel()
	f, rt := startOneReplica(t)
	r := rt.replicas[0]
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	if err := f.c.Stop(0); err != nil {
		t.Fatal(err)
	}
	rt.eventuallyAtReplicas(f.scanners[0], code, string(node.EReplicaStale), replicaMaxStale+10*time.Second)
	if st, body := httpDo(t, "GET", r.URL+"/readyz", "", nil); st != 503 || !strings.Contains(body, "home node") {
		t.Errorf("readyz with home down: %d %s, want 503 naming the home node", st, body)
	}
}

// A replica restarted while NATS is unreachable verifies from the
// statements it cached: a code revoked before stays revoked, a live one
// verifies.
func TestVerifierReplicaRestartedWithoutNATSKeepsRefusingRevokedCodes(t *testing.T) {
	t.Parallel()
	f, rt := startOneReplica(t)
	subjectA, codeA := f.enrolAndIssue(0, "张三", "11010519491231002X")
	_, codeB := f.enrolAndIssue(0, "李四", idWithCheck("44010619900101123"))
	rt.eventuallyAtReplicas(f.scanners[0], codeB, "ok", 15*time.Second)
	f.setStatus(0, subjectA, "red")
	rt.eventuallyAtReplicas(f.scanners[0], codeA, "revoked", 15*time.Second)
	rt.restartWithoutNATS(0)
	rt.eventuallyAtReplicas(f.scanners[0], codeB, "ok", 15*time.Second)
	if got := rt.verifyAt(rt.replicas[0], f.scanners[0], codeA); got != "revoked" {
		t.Fatalf("revoked code after a restart without NATS: %q", got)
	}
}

// A replica restarted while NATS is unreachable, its home node still
// answering, verifies with what it cached only until trust.stale_limit
// has passed since its last contact with the federation: home's
// refreshes tell it of home's own revocations, not of other provinces',
// and before, the restarted replica applied no staleness limit at all.
func TestVerifierReplicaRestartedWithoutNATSAnswersTrustStaleOnceItsLastSyncIsOlderThanTheLimit(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces[:1], Now: clock.Now})
	rt := &replicaTest{fedTest: f}
	rt.startReplica(0, "r1", daemon.Options{Now: clock.Now})
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	// Home answers the refreshes 304 while nothing changed: they count
	// as contact, so max_stale passing on the clock refuses nothing for
	// long (it refused every scanner when a 304 did not count).
	clock.Advance(3 * replicaMaxStale)
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	if _, m := httpDo(t, "GET", rt.replicas[0].MetricsURL, "", nil); strings.Contains(m, "\nhcfed_replica_refresh_unchanged_total 0\n") ||
		!strings.Contains(m, "\nhcfed_replica_refresh_unchanged_total ") {
		t.Error("no refresh answered 304 (hcfed_replica_refresh_unchanged_total)")
	}
	waitFor(t, "the replica's last sync on record", func() error {
		_, err := rt.replicas[0].DB.Meta(context.Background(), "federation.last_synced")
		return err
	})
	if err := rt.replicas[0].Close(); err != nil {
		t.Fatal(err)
	}
	cfg := rt.cfgs[0]
	cfg.NATS.URLs, cfg.Trust.StaleLimit = unreachableNATS, time.Hour
	rt.replicas[0] = rt.runReplica(cfg, daemon.Options{Now: clock.Now})
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	clock.Advance(2 * time.Hour) // the code lives 24 h
	rt.eventuallyAtReplicas(f.scanners[0], code, "trust_stale", 15*time.Second)
}

// A replica that no longer hears its province's revocations over NATS,
// while its home node still answers its refreshes, refuses every scanner
// (replica_stale) once a revocation home made has gone unapplied for
// replica.max_stale, and says so at /readyz: it cannot know what was
// revoked. It answered "ok" for the code of a resident just set red, as
// long as trust.stale_limit allowed (a day by default). Back on NATS, it
// catches up and refuses the code as revoked.
func TestVerifierReplicaBehindItsHomesRevocationsRefusesScanners(t *testing.T) {
	t.Parallel()
	f, rt := startOneReplica(t)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	rt.restartWithoutNATS(0)
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	f.setStatus(0, subject, "red")
	rt.refusedUntilBackOnNATS(0, code, "revocation", "revoked")
}

// The same holds for its province's keysets: a replica that does not
// hear, over NATS, a keyset home signed (here: a key marked compromised)
// refuses every scanner once it has been behind for replica.max_stale.
// It went on answering "ok" for every code of the compromised key.
func TestVerifierReplicaBehindItsHomesKeysetRefusesScanners(t *testing.T) {
	t.Parallel()
	f, rt := startOneReplica(t)
	subject, old := f.enrolAndIssue(0, "张三", "11010519491231002X")
	var keys struct{ Keys []struct{ KID, State string } }
	if st := f.call(0, "POST", "/v1/keys/rotate", f.c.Tokens[0], nil, &keys); st != 200 {
		t.Fatalf("rotate: %d", st)
	}
	fresh := f.issue(0, subject)
	rt.eventuallyAtReplicas(f.scanners[0], fresh, "ok", 15*time.Second)
	var retired string
	for _, k := range keys.Keys {
		if k.State == "retired" {
			retired = k.KID
		}
	}
	rt.restartWithoutNATS(0)
	rt.eventuallyAtReplicas(f.scanners[0], old, "ok", 15*time.Second)
	if st := f.call(0, "POST", "/v1/keys/"+retired+"/compromise", f.c.Tokens[0], nil, nil); st != 200 {
		t.Fatalf("compromise: %d", st)
	}
	rt.refusedUntilBackOnNATS(0, old, "keyset", "key_compromised")
}

// A record the home node refuses (here: from a replica whose clock is
// ten minutes ahead, so from the future) is dropped and counted, and the
// queue keeps flowing instead of being held by it.
func TestVerifierReplicaDropsRecordsHomeRefusesAndKeepsSending(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:1], nil)
	// Its own province's revocations, as of home's last heartbeat, look
	// ten minutes old at that clock: its limit is raised past that.
	rt := &replicaTest{fedTest: f, configure: func(c *config.Config) { c.Trust.RevocationsMaxAge = time.Hour }}
	r := rt.startReplica(0, "r1", daemon.Options{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	// Before the first scan, /v1/verify's server errors are at 0, so an
	// increase() alert on them fires on the first burst.
	if _, m := httpDo(t, "GET", r.MetricsURL, "", nil); !strings.Contains(m, `hcfed_http_requests_total{code="500",route="/v1/verify"} 0`) ||
		!strings.Contains(m, `hcfed_http_requests_total{code="503",route="/v1/verify"} 0`) {
		t.Errorf("the replica's /metrics before any scan has no 5xx series at 0 for /v1/verify:\n%s", m)
	}
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	waitFor(t, "the refused record dropped and the queue empty", func() error {
		_, m := httpDo(t, "GET", r.MetricsURL, "", nil)
		if strings.Contains(m, "\nhcfed_replica_records_refused_total 0\n") || !strings.Contains(m, "\nhcfed_replica_records_refused_total ") ||
			!strings.Contains(m, "\nhcfed_replica_outbox 0\n") {
			return fmt.Errorf("no record refused yet, or the queue not empty")
		}
		return nil
	})
}

// With one NATS account per province, a replica connects as its
// province's verifier user, which may read the account's copies of the
// federation but publish and serve nothing, and still refuses a code
// revoked at home and verifies the other province's codes. The node's
// own seed is not on the replica at all.
func TestVerifierReplicaInAccountsModeFollowsTheFederationAsTheReadOnlyUser(t *testing.T) {
	t.Parallel()
	f := &replicaTest{fedTest: startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces[:2],
		Isolation: federation.IsolationAccounts})}
	seed := filepath.Join(f.c.AccountsDir(), federation.SeedFile(f.c.Nodes[0].Node.Province(), federation.RoleVerifier))
	f.configure = func(cfg *config.Config) { cfg.NATS.NKeySeed = seed }
	r := f.startReplica(0, "r1")
	if f.cfgs[0].NATS.NKeySeed != seed || f.cfgs[0].NATS.Isolation != federation.IsolationAccounts {
		t.Fatalf("replica NATS settings: seed %q isolation %q", f.cfgs[0].NATS.NKeySeed, f.cfgs[0].NATS.Isolation)
	}
	subjectA, codeA := f.enrolAndIssue(0, "黄小明", idWithCheck("44010619900101123"))
	_, codeB := f.enrolAndIssue(1, "周建国", idWithCheck("31011519700707789"))
	gd := f.scanners[0]
	f.eventuallyAtReplicas(gd, codeA, "ok", 15*time.Second)
	f.eventuallyAtReplicas(gd, codeB, "ok", 15*time.Second)
	f.setStatus(0, subjectA, "red")
	f.eventuallyAtReplicas(gd, codeA, "revoked", 15*time.Second)
	if st, body := httpDo(t, "GET", r.URL+"/readyz", "", nil); st != 200 {
		t.Errorf("replica readyz on the read-only user: %d %s", st, body)
	}
}

// A rolling upgrade keeps a replica serving: home held its enc key before
// fingerprints (migration 0022 grandfathers it), so the upgraded replica,
// its fingerprint not confirmed yet, is ready and verifies; its records
// stay queued (403 replica_signature) until an admin confirms, then go.
func TestVerifierReplicaOnAGrandfatheredEncKeyServesAndHoldsItsRecordsUntilConfirmed(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:1], nil)
	var added node.NewReplica
	f.mustCall(0, "POST", "/v1/replicas", f.c.Tokens[0], map[string]string{"name": "r1"}, &added, 201)
	cfg := f.c.Configs[0]
	cfg.Role, cfg.DataDir, cfg.Listen = config.RoleVerifier, filepath.Join(t.TempDir(), "r1"), "127.0.0.1:0"
	cfg.Replica = config.Replica{Home: f.c.Nodes[0].URL, Token: added.Token, Refresh: replicaRefresh,
		MaxStale: replicaMaxStale, SendEvery: 100 * time.Millisecond}
	rt := &replicaTest{fedTest: f}
	r := rt.runReplica(cfg)
	rt.replicas = append(rt.replicas, r)
	waitFor(t, "r1 registered, unconfirmed", func() error {
		if st, body := httpDo(t, "GET", r.URL+"/readyz", "", nil); st != 503 || !strings.Contains(body, "replica_unconfirmed") {
			return fmt.Errorf("readyz %d %s", st, body)
		}
		return nil
	})
	// As if home had held this enc key before migration 0022 (what its
	// UPDATE does): the replica, registering at every refresh until
	// home serves it, is grandfathered at its next.
	home, err := sql.Open("sqlite", f.c.Configs[0].DBPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	if _, err := home.Exec(`UPDATE replicas SET prior_enc_key = enc_key WHERE name = 'r1'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "r1 ready", func() error {
		if st, body := httpDo(t, "GET", r.URL+"/readyz", "", nil); st != 200 {
			return fmt.Errorf("readyz %d %s", st, body)
		}
		return nil
	})
	_, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	rt.eventuallyAtReplicas(f.scanners[0], code, "ok", 15*time.Second)
	var l struct {
		Replicas []node.ReplicaInfo `json:"replicas"`
	}
	f.mustCall(0, "GET", "/v1/replicas", f.c.Tokens[0], nil, &l, 200)
	if len(l.Replicas) != 1 || !l.Replicas[0].Grandfathered || l.Replicas[0].Fingerprint != r.Replica.Fingerprint() {
		t.Fatalf("replica list: %+v; want r1 grandfathered with its fingerprint", l.Replicas)
	}
	metric := func(name string) string {
		_, m := httpDo(t, "GET", r.MetricsURL, "", nil)
		_, after, _ := strings.Cut(m, "\n"+name+" ")
		v, _, _ := strings.Cut(after, "\n")
		return v
	}
	outbox := func() string { return metric("hcfed_replica_outbox") }
	// The refreshes succeed now: a failure counted after the scan is a
	// send of its record, refused; the record stays queued.
	failed := metric("hcfed_replica_home_failures_total")
	waitFor(t, "a refused send", func() error {
		if got := metric("hcfed_replica_home_failures_total"); got == failed {
			return fmt.Errorf("no failed request since the scan (%s)", got)
		}
		return nil
	})
	if got := outbox(); got != "1" {
		t.Fatalf("outbox %s before the confirmation, want the record held", got)
	}
	f.mustCall(0, "POST", "/v1/replicas/r1/confirm", f.c.Tokens[0], map[string]string{"fingerprint": r.Replica.Fingerprint()}, nil, 200)
	waitFor(t, "the held record sent", func() error {
		if got := outbox(); got != "0" {
			return fmt.Errorf("outbox %s", got)
		}
		return nil
	})
	if st, body := httpDo(t, "GET", r.URL+"/readyz", "", nil); st != 200 {
		t.Fatalf("readyz once confirmed: %d %s", st, body)
	}
}
