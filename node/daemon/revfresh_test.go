package daemon_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// Both provinces of startRevFresh: Guangdong issues, Shanghai checks.
const (
	issuer     = 0
	checkpoint = 1
)

// startRevFresh starts Guangdong and Shanghai on one clock the test
// moves, publishing their heartbeats every 300 ms (so that one signed at
// the moved clock arrives at once).
func startRevFresh(t *testing.T) (*fedTest, *testClock) {
	t.Helper()
	clock := &testClock{}
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces[:2], Now: clock.Now, Republish: 300 * time.Millisecond})
	return f, clock
}

// verifyAge is the reason and revocations_age province i answers for code.
func (f *fedTest) verifyAge(i int, code string) (reason string, age int64) {
	f.t.Helper()
	var v struct {
		Reason         string
		RevocationsAge int64 `json:"revocations_age"`
	}
	if st := f.call(i, "POST", "/v1/verify", f.scanners[i], map[string]string{"code": code}, &v); st != 200 {
		f.t.Fatalf("verify: %d", st)
	}
	return v.Reason, v.RevocationsAge
}

// metricsOf is province i's /metrics page.
func (f *fedTest) metricsOf(i int) string {
	f.t.Helper()
	resp, err := testClient.Get(f.c.Nodes[i].MetricsURL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A checkpoint restarted while cut off from NATS keeps verifying another
// province's codes from what it cached, but only for
// trust.revocations_max_age after it last knew it held all that
// province's revocations: past it, a code not revoked in what it holds —
// here the code of a resident set red at home meanwhile — answers
// revocations_stale, and the metrics and the federation view say why.
// Before, it answered "ok" until trust.stale_limit (a day). Back on NATS
// it answers "revoked" for that code and "ok" for another.
func TestCheckpointCutOffFromNATSRefusesAnotherProvincesCodesPastTheLimit(t *testing.T) {
	t.Parallel()
	f, clock := startRevFresh(t)
	subject, code := f.enrolAndIssue(issuer, "张三", "11010519491231002X")
	_, other := f.enrolAndIssue(issuer, "李四", idWithCheck("44010619910202234"))
	f.eventually(checkpoint, code, "ok")
	f.eventually(checkpoint, other, "ok")

	f.restartWithNATS(checkpoint, unreachableNATS)
	if got := f.verify(checkpoint, code); got != "ok" {
		t.Fatalf("restarted without NATS, within the limit: %q, want ok (from the cached heartbeat)", got)
	}
	f.setStatus(issuer, subject, "red")
	if got := f.verify(checkpoint, code); got != "ok" {
		t.Fatalf("cut off, within the limit: %q (the checkpoint cannot know of the revocation yet)", got)
	}
	clock.Advance(config.DefaultRevocationsMaxAge + time.Minute)
	for _, c := range []string{code, other} {
		reason, age := f.verifyAge(checkpoint, c)
		if reason != "revocations_stale" || age < int64(config.DefaultRevocationsMaxAge/time.Second) {
			t.Fatalf("cut off past the limit: %q, revocations_age %d, want revocations_stale with an age past %v",
				reason, age, config.DefaultRevocationsMaxAge)
		}
	}
	if m := f.metricsOf(checkpoint); !strings.Contains(m, `hcfed_revocations_stale{province="440000"} 1`) ||
		!strings.Contains(m, `hcfed_revocations_age_seconds{province="440000"}`) {
		t.Errorf("metrics past the limit lack hcfed_revocations_stale 1 and the age of 440000")
	}
	var view struct {
		WarningDetails []struct{ Code string } `json:"warning_details"`
	}
	f.call(checkpoint, "GET", "/v1/federation", "", nil, &view)
	if !hasWarning(view.WarningDetails, "revocations_stale") {
		t.Errorf("federation view past the limit: warnings %v, want revocations_stale", view.WarningDetails)
	}

	f.restartWithNATS(checkpoint, f.c.NATSURLs())
	f.eventually(checkpoint, code, "revoked")
	f.eventually(checkpoint, other, "ok")
	if m := f.metricsOf(checkpoint); !strings.Contains(m, `hcfed_revocations_stale{province="440000"} 0`) {
		t.Errorf("metrics back on NATS lack hcfed_revocations_stale 0 for 440000")
	}
}

// A checkpoint connected and caught up keeps answering "ok" for the codes
// of a province that revokes nothing for longer than the limit: its
// heartbeats keep it current. Once that province's node is cut off from
// NATS and revokes a code, the checkpoint answers revocations_stale past
// the limit, never ok (it cannot tell a province that is down from one
// revoking unheard); when the province is back, "revoked".
func TestCheckpointRefusesTheCodesOfAProvinceCutOffPastTheLimitButNotOfAQuietOne(t *testing.T) {
	t.Parallel()
	f, clock := startRevFresh(t)
	subject, code := f.enrolAndIssue(issuer, "张三", "11010519491231002X")
	f.eventually(checkpoint, code, "ok")
	clock.Advance(2 * config.DefaultRevocationsMaxAge)
	f.eventually(checkpoint, code, "ok") // the next heartbeat, signed at the moved clock

	f.restartWithNATS(issuer, unreachableNATS)
	f.setStatus(issuer, subject, "red")
	clock.Advance(config.DefaultRevocationsMaxAge + time.Minute)
	f.eventually(checkpoint, code, "revocations_stale")

	f.restartWithNATS(issuer, f.c.NATSURLs())
	f.eventually(checkpoint, code, "revoked")
}

func hasWarning(ws []struct{ Code string }, code string) bool {
	for _, w := range ws {
		if w.Code == code {
			return true
		}
	}
	return false
}
