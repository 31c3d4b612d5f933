package daemon_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// enrolResident enrols a resident at province i and returns their id and
// resident token.
func (f *fedTest) enrolResident(i int, name, idNumber string) (id, token string) {
	f.t.Helper()
	var e struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
	}
	f.mustCall(i, "POST", "/v1/subjects", f.c.Tokens[i], map[string]any{"name": name, "id_number": idNumber,
		"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}, &e, 201)
	return e.ID, e.ResidentToken
}

// refusedWithin waits until every peer of province 0 answers "revoked"
// for code, all before deadline.
func (f *fedTest) refusedWithin(code string, deadline time.Time) {
	f.t.Helper()
	for i := 1; i < len(f.c.Nodes); i++ {
		var got string
		err := poll(time.Until(deadline), 5*time.Millisecond, func() error {
			if got = f.verify(i, code); got != "revoked" {
				return fmt.Errorf("verify says %q", got)
			}
			return nil
		})
		if err != nil {
			f.t.Fatalf("%s did not refuse the code in time: %v", f.c.Configs[i].Province, err)
		}
	}
}

// metric reads one unlabelled series from province i's /metrics.
func (f *fedTest) metric(i int, name string) string {
	f.t.Helper()
	for line := range strings.SplitSeq(f.metricsOf(i), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func (f *fedTest) waitMetricValue(i int, name, want string) {
	f.t.Helper()
	waitFor(f.t, name+" = "+want, func() error {
		if got := f.metric(i, name); got != want {
			return fmt.Errorf("%s = %q", name, got)
		}
		return nil
	})
}

// waitReady waits until province i's /readyz answers 200.
func (f *fedTest) waitReady(i int) {
	f.t.Helper()
	waitFor(f.t, f.c.Configs[i].Province+" ready", func() error {
		var body map[string]string
		if st := f.call(i, "GET", "/readyz", "", nil, &body); st != 200 {
			return fmt.Errorf("readyz %d: %v", st, body)
		}
		return nil
	})
}

// TestResidentIssuingFlatOutCannotBlackOutABystandersRevocation is the
// blackout of issue 9: one resident token issues codes as fast as it
// can and is then deleted, which used to revoke thousands of codes in
// one statement that no peer accepted and that blocked every later one.
// A bystander set red right after must be refused everywhere within a
// second.
func TestResidentIssuingFlatOutCannotBlackOutABystandersRevocation(t *testing.T) {
	f := startFederation(t, threeProvinces, nil)
	bystander, bystanderCode := f.enrolAndIssue(0, "李四", "110105194912310046")
	for i := range f.c.Nodes {
		f.eventually(i, bystanderCode, "ok")
	}
	flooder, token := f.enrolResident(0, "张三", "11010519491231002X")

	const attempts, workers = 5000, 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var issued, refused atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= attempts {
				req, _ := http.NewRequest("POST", f.c.Nodes[0].URL+"/v1/subjects/"+flooder+"/codes", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var body struct{ Error struct{ Code string } }
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 201:
					issued.Add(1)
				case resp.StatusCode == 409 && body.Error.Code == "limit_reached", resp.StatusCode == 429:
					refused.Add(1)
				default:
					t.Errorf("issue: %d %s", resp.StatusCode, body.Error.Code)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d codes issued, %d refused", issued.Load(), refused.Load())
	if n := issued.Load(); n < 1 || n > config.DefaultMaxLiveCodes {
		t.Fatalf("%d codes issued to one resident, want 1..%d", n, config.DefaultMaxLiveCodes)
	}
	// The operator deletes the resident (the resident's own token is
	// throttled by now, and either may delete).
	if st := f.call(0, "DELETE", "/v1/subjects/"+flooder, f.c.Tokens[0], nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	f.setStatus(0, bystander, "red")
	f.refusedWithin(bystanderCode, time.Now().Add(time.Second))
	f.waitMetricValue(0, "hcfed_revocation_outbox_pending", "0")
	if got := f.metric(0, "hcfed_revocation_outbox_poisoned"); got != "0" {
		t.Fatalf("hcfed_revocation_outbox_poisoned = %s", got)
	}
}

// openNodeDB opens a stopped province's database behind its back.
func openNodeDB(t *testing.T, f *fedTest, i int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", f.c.Configs[i].DBPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestRevocationThatCanNeverBePublishedIsSetAsideAndLaterOnesFlow starts
// a province whose outbox holds a revocation too large for any statement,
// as a node of an earlier version (which did not split revocations) left
// it. The outbox sets it aside instead of retrying it forever, counts it,
// and publishes a snapshot that carries its codes to peers; later
// revocations flow as usual.
func TestRevocationThatCanNeverBePublishedIsSetAsideAndLaterOnesFlow(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	victim, _ := f.enrolAndIssue(0, "张三", "11010519491231002X")
	victimCode, victimJTI := f.issueJTI(0, victim)
	later, laterCode := f.enrolAndIssue(0, "李四", "110105194912310046")
	f.eventually(1, victimCode, "ok")
	f.eventually(2, laterCode, "ok")
	if err := f.c.Stop(0); err != nil {
		t.Fatal(err)
	}
	// The victim's code, revoked with 4,499 others in one outbox row.
	raw := openNodeDB(t, f, 0)
	exp := time.Now().Add(time.Hour).UnixNano()
	type entry struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	}
	entries := []entry{{victimJTI, exp}}
	for i := 1; i < 4500; i++ {
		j, err := trust.NewJTI(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{j, exp})
	}
	body, _ := json.Marshal(entries)
	var seq int64
	if err := raw.QueryRow(`SELECT COALESCE(MAX(seq), 0) + 1 FROM revocations`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE codes SET revoked = 1 WHERE jti = ?`, victimJTI); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO revocations (seq, entries, created) VALUES (?, ?, ?)`, seq, string(body), time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if err := f.c.Restart(context.Background(), 0); err != nil {
		t.Fatal(err)
	}

	f.waitMetricValue(0, "hcfed_revocation_outbox_poisoned", "1")
	f.setStatus(0, later, "red")
	f.eventually(1, laterCode, "revoked")
	f.eventually(2, laterCode, "revoked")
	// The set-aside revocation's code reaches peers through the snapshot.
	f.eventually(1, victimCode, "revoked")
	f.eventually(2, victimCode, "revoked")
	f.waitMetricValue(0, "hcfed_revocation_outbox_pending", "0")
	f.waitReady(0)
	for i := 1; i < len(f.c.Nodes); i++ {
		if got, want := f.c.Nodes[i].Node.State().RevocationSeq("440000"), uint64(seq+1); got < want {
			t.Errorf("%s holds Guangdong's revocations up to seq %d, want %d", f.c.Configs[i].Province, got, want)
		}
	}
	var why string
	if err := openNodeDB(t, f, 0).QueryRow(`SELECT poisoned FROM revocations WHERE seq = ?`, seq).Scan(&why); err != nil || why != "too_many_entries" {
		t.Fatalf("outbox row %d: poisoned = %q, %v; want it kept, marked too_many_entries", seq, why, err)
	}
}

// issueJTI issues a code at province i and returns it with its jti.
func (f *fedTest) issueJTI(i int, subject string) (code, jti string) {
	f.t.Helper()
	var c struct{ Code, JTI string }
	f.mustCall(i, "POST", "/v1/subjects/"+subject+"/codes", f.c.Tokens[i], nil, &c, 201)
	return c.Code, c.JTI
}

// rawJetStream connects to the cluster's NATS as a bare nats.go client.
func rawJetStream(t *testing.T, f *fedTest) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(f.c.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestSquattedMsgIDDoesNotHideARevocation: a client that reaches NATS
// publishes first under the id the next revocation used to get
// ("<province>-<seq>"); JetStream then acknowledged the real revocation
// as a duplicate without storing it, and no peer ever heard of it.
func TestSquattedMsgIDDoesNotHideARevocation(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	f.eventually(2, code, "ok")
	last, err := f.c.Nodes[0].DB.LastRevocationSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	js := rawJetStream(t, f)
	ctx := context.Background()
	for seq := last + 1; seq <= last+3; seq++ {
		if _, err := js.Publish(ctx, "hcfed.demo.440000.revocations", []byte("squatted"),
			jetstream.WithMsgID(fmt.Sprintf("440000-%d", seq))); err != nil {
			t.Fatal(err)
		}
	}
	f.setStatus(0, subject, "red")
	f.refusedWithin(code, time.Now().Add(5*time.Second))
}

// TestDeletedRevocationStreamIsRecreatedAndRevocationsFlow deletes the
// revocation stream under a running federation: the home node recreates
// it, its outbox resumes, peers read the new stream from its start, and
// the nodes still shut down (the deferred cluster Close).
func TestDeletedRevocationStreamIsRecreatedAndRevocationsFlow(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	f.eventually(2, code, "ok")
	js := rawJetStream(t, f)
	if err := js.DeleteStream(context.Background(), "HCFED_demo_REV"); err != nil {
		t.Fatal(err)
	}
	f.setStatus(0, subject, "red")
	f.eventually(1, code, "revoked")
	f.eventually(2, code, "revoked")
	f.waitMetricValue(0, "hcfed_revocation_outbox_pending", "0")
	f.waitReady(0)
	if _, err := js.Stream(context.Background(), "HCFED_demo_REV"); err != nil {
		t.Fatalf("the revocation stream was not recreated: %v", err)
	}
}

// TestRevocationStreamFoundMissingIsCreatedAgainOnlyOnceItStayedMissing:
// nats-server takes a stream being deleted out of its account before it
// moves the stream's files away, and a stream created under the same name
// in between lost its files with the old one's and refused every message
// from then on. Each node created the stream again at the first check
// that found it missing (every 200 ms in
// TestRestoredNodeWhoseLaterStatementsLeftTheStreamNumbersAboveThePeers,
// whose peers then never read the home node's next revocation). A node
// now waits streamGoneSettle after first finding it missing.
func TestRevocationStreamFoundMissingIsCreatedAgainOnlyOnceItStayedMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &testClock{}
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces[:1], Now: clock.Now, Republish: 20 * time.Millisecond})
	conn := operatorConn(t, f.c)
	heartbeat := func() uint64 {
		_, rev, err := conn.GetState(ctx, f.c.Configs[0].Province+".heartbeat")
		if err != nil {
			return 0
		}
		return rev
	}
	js := rawJetStream(t, f)
	if err := js.DeleteStream(ctx, "HCFED_demo_REV"); err != nil {
		t.Fatal(err)
	}
	// Every Republish tick checks the stream, then publishes a heartbeat:
	// a second heartbeat after the deletion follows a check that found
	// it missing.
	after := heartbeat()
	waitFor(t, "two heartbeats after the deletion", func() error {
		if rev := heartbeat(); rev < after+2 {
			return fmt.Errorf("heartbeat at revision %d, want %d", rev, after+2)
		}
		return nil
	})
	if _, err := js.Stream(ctx, "HCFED_demo_REV"); err == nil {
		t.Fatal("the revocation stream was created again at once, while a deletion could still be moving its files away")
	}
	clock.Advance(2 * time.Second) // streamGoneSettle
	waitFor(t, "the revocation stream created again", func() error {
		_, err := js.Stream(ctx, "HCFED_demo_REV")
		return err
	})
}

// TestOutboxPendingMetricIsRightAfterRestart: revocations committed while
// NATS is unreachable are counted by hcfed_revocation_outbox_pending even
// after a restart, before any connection (it used to read 0).
func TestOutboxPendingMetricIsRightAfterRestart(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	ids := []string{"11010519491231002X", "110105194912310046", "310115198506078825"}
	var subjects, codes []string
	for i, id := range ids {
		s, c := f.enrolAndIssue(0, fmt.Sprint("居民", i), id)
		subjects, codes = append(subjects, s), append(codes, c)
	}
	good := f.c.Configs[0].NATS.URLs
	f.restartWithNATS(0, unreachableNATS)
	for _, s := range subjects {
		f.setStatus(0, s, "red")
	}
	f.restartWithNATS(0, unreachableNATS)
	if got := f.metric(0, "hcfed_revocation_outbox_pending"); got != fmt.Sprint(len(subjects)) {
		t.Fatalf("after a restart without NATS, hcfed_revocation_outbox_pending = %q, want %d", got, len(subjects))
	}
	f.restartWithNATS(0, good)
	f.waitMetricValue(0, "hcfed_revocation_outbox_pending", "0")
	for _, c := range codes {
		f.eventually(1, c, "revoked")
	}
}
