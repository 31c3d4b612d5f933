package api_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// outboxRows is the node's highest outbox seq.
func outboxRows(t *testing.T, tn *testNode) uint64 {
	t.Helper()
	seq, err := tn.d.DB.LastRevocationSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// bulkOut is the decoded response stream of POST /v1/statuses.
type bulkOut struct {
	results  map[int]map[string]any // by line
	progress []map[string]any
	summary  map[string]any
	err      map[string]any
}

func (tn *testNode) bulk(body string) (*http.Response, bulkOut) {
	tn.t.Helper()
	return tn.bulkAs(tn.operator, body)
}

// bulkAs sends body to POST /v1/statuses with token.
func (tn *testNode) bulkAs(token, body string) (*http.Response, bulkOut) {
	tn.t.Helper()
	resp := tn.call("POST", "/v1/statuses", token, body, nil)
	out := bulkOut{results: map[int]map[string]any{}}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			tn.t.Fatalf("response line %q: %v", sc.Text(), err)
		}
		switch {
		case m["line"] != nil:
			out.results[int(m["line"].(float64))] = m
		case m["progress"] != nil:
			out.progress = append(out.progress, m["progress"].(map[string]any))
		case m["summary"] != nil:
			out.summary = m["summary"].(map[string]any)
		case m["error"] != nil:
			out.err = m["error"].(map[string]any)
		}
	}
	return resp, out
}

func TestBulkStatusAppliesGoodLinesRefusesBadOnesByLineAndIsIdempotent(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	a, ta := tn.enrol(residentName, idNumberN(1))
	b, tb := tn.enrol(residentName, idNumberN(2))
	codeA, codeB := tn.issue(a, ta), tn.issue(b, tb)
	long := strings.Repeat("x", 5000)
	body := strings.Join([]string{
		fmt.Sprintf(`{"subject":%q,"status":"yellow","reason":"outbreak","ref":"r1"}`, a),
		`{"subject":"s_nobody","status":"red","ref":"r2"}`,
		fmt.Sprintf(`{"subject":%q,"status":"purple","ref":"r3"}`, b),
		fmt.Sprintf(`{"subject":%q,"status":"red","Ref":"r4"}`, b), // case-folded key: strict decoding refuses
		``,
		`{"subject":"` + long + `"}`,
		fmt.Sprintf(`{"subject":%q,"status":"red","ref":"r7"}`, b),
		fmt.Sprintf(`{"subject":%q,"status":"green","ref":"r8","reason":"bad\u0007"}`, a),
	}, "\n")
	resp, out := tn.bulk(body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := map[int]string{1: "applied", 2: "refused", 3: "refused", 4: "refused", 6: "refused", 7: "applied", 8: "refused"}
	codes := map[int]string{2: "not_found", 3: "invalid", 4: "invalid", 6: "too_large", 8: "invalid"}
	for line, result := range want {
		r := out.results[line]
		if r == nil || r["result"] != result {
			t.Errorf("line %d = %v, want %s", line, r, result)
			continue
		}
		if c := codes[line]; c != "" {
			if e, _ := r["error"].(map[string]any); e == nil || e["code"] != c {
				t.Errorf("line %d error = %v, want code %s", line, r["error"], c)
			}
		}
	}
	if len(out.results) != len(want) {
		t.Errorf("%d results, want %d (blank lines are skipped)", len(out.results), len(want))
	}
	if out.results[1]["ref"] != "r1" || out.results[2]["ref"] != "r2" {
		t.Errorf("refs not echoed: %v %v", out.results[1], out.results[2])
	}
	if out.summary == nil || out.summary["applied"] != 2.0 || out.summary["refused"] != 5.0 || out.summary["revoked"] != 2.0 {
		t.Fatalf("summary = %v, want 2 applied, 5 refused, 2 revoked", out.summary)
	}
	if len(out.progress) == 0 {
		t.Error("no progress line")
	}
	for _, c := range []string{codeA.Code, codeB.Code} {
		if v := tn.verify(c); v.Valid || v.Reason != "revoked" {
			t.Errorf("verify after bulk = %+v, want revoked", v)
		}
	}

	// The same body again changes nothing.
	before := outboxRows(t, tn)
	_, again := tn.bulk(body)
	if again.summary["applied"] != 0.0 || again.summary["unchanged"] != 2.0 || again.summary["revoked"] != 0.0 {
		t.Errorf("repeat summary = %v, want 0 applied, 2 unchanged, 0 revoked", again.summary)
	}
	if after := outboxRows(t, tn); after != before {
		t.Errorf("outbox rows %d -> %d on a repeat", before, after)
	}

	// Retrying exactly a refused line, corrected, applies it.
	_, retry := tn.bulk(fmt.Sprintf(`{"subject":%q,"status":"green","ref":"r8"}`, a))
	if retry.results[1]["result"] != "applied" {
		t.Errorf("retry = %v", retry.results[1])
	}
	if m := tn.metric(`hcfed_bulk_lines_total{result="applied"}`); !strings.HasSuffix(m, " 3") {
		t.Errorf("metric line %q, want 3 applied bulk lines", m)
	}
}

func TestBulkStatusNeedsAnOperatorAndIsNotBoundByTheBodyLimit(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	a, ta := tn.enrol(residentName, idNumberN(1))
	var e apiError
	resp := tn.call("POST", "/v1/statuses", ta, fmt.Sprintf(`{"subject":%q,"status":"red"}`, a), &e)
	if resp.StatusCode != http.StatusForbidden || e.Error.Code != "forbidden" {
		t.Errorf("resident: HTTP %d %+v, want 403 forbidden", resp.StatusCode, e)
	}
	// 5,001 lines (three batches, the last one line), some 200 KB, far
	// above limits.body_bytes (16 KiB): all are read. (It was 40,000
	// lines; under -race each missing subject cost a millisecond.)
	const lines = 2*node.BulkBatchLines + 1001
	var body bytes.Buffer
	for i := range lines - 1 {
		fmt.Fprintf(&body, `{"subject":"s_missing%d","status":"red"}`+"\n", i)
	}
	fmt.Fprintf(&body, `{"subject":%q,"status":"red"}`, a)
	if body.Len() < 10*int(tn.cfg.Limits.BodyBytes) {
		t.Fatalf("a %d-byte body is not far above the %d-byte body limit", body.Len(), tn.cfg.Limits.BodyBytes)
	}
	_, out := tn.bulk(body.String())
	if out.summary == nil || out.summary["lines"] != float64(lines) || out.summary["applied"] != 1.0 {
		t.Fatalf("summary = %v, err = %v; want %d lines, 1 applied", out.summary, out.err, lines)
	}
	if want := (lines + node.BulkBatchLines - 1) / node.BulkBatchLines; len(out.progress) != want {
		t.Errorf("%d progress lines, want one per %d-line batch (%d)", len(out.progress), node.BulkBatchLines, want)
	}
	// The global limit still holds elsewhere.
	resp = tn.call("PUT", "/v1/subjects/"+a+"/status", tn.operator, `{"status":"red","reason":"`+strings.Repeat("x", 20000)+`"}`, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT with a 20 KB body: HTTP %d, want 413", resp.StatusCode)
	}
}

func TestBulkStatusBodyOverBulkBytesStopsAfterCommittingWhatWasRead(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000", func(c *config.Config) { c.Limits.BulkBytes = 64 << 10 })
	a, _ := tn.enrol(residentName, idNumberN(1))
	var body bytes.Buffer
	fmt.Fprintf(&body, `{"subject":%q,"status":"red"}`+"\n", a)
	for i := 0; body.Len() < 100<<10; i++ {
		fmt.Fprintf(&body, `{"subject":"s_missing%d","status":"red"}`+"\n", i)
	}
	_, out := tn.bulk(body.String())
	if out.err == nil || out.err["code"] != "too_large" {
		t.Fatalf("stream error = %v, want too_large", out.err)
	}
	if out.summary != nil || out.results[1]["result"] != "applied" {
		t.Errorf("summary %v, line 1 %v: want no summary and line 1 applied", out.summary, out.results[1])
	}
}

// Every audit entry names the operator's account (admin:<name> or
// operator:<name>), the bulk path's status changes as much as SetStatus's.
func TestBulkStatusAuditNamesTheOperatorsAccount(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	a, _ := tn.enrol(residentName, idNumberN(1))
	b, _ := tn.enrol(residentName, idNumberN(2))
	_, out := tn.bulk(fmt.Sprintf(`{"subject":%q,"status":"red","reason":"contact"}`+"\n"+`{"subject":%q,"status":"yellow"}`, a, b))
	if out.summary == nil || out.summary["applied"] != 2.0 {
		t.Fatalf("summary = %v, err = %v; want 2 applied", out.summary, out.err)
	}
	entries, err := tn.d.DB.AuditEntries(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{}
	for _, e := range entries {
		if e.Action == "subject.status" {
			targets[e.Target] = e.Actor
		}
	}
	for _, id := range []string{a, b} {
		if targets[id] != "admin:admin" {
			t.Errorf("status change of %s audited as %q, want admin:admin (the token's account)", id, targets[id])
		}
	}
}

// An empty body, or one of blank lines only, is refused with a 400 and a
// reason code before any response is streamed: it is a wrong file more
// likely than a batch of nothing.
func TestBulkStatusRefusesAnEmptyBody(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	for _, body := range []string{"", "\n", "  \n\n\t\n"} {
		var e apiError
		resp := tn.call("POST", "/v1/statuses", tn.operator, body, &e)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, "empty") {
			t.Errorf("body %q: HTTP %d %+v, want 400 invalid naming the empty body", body, resp.StatusCode, e)
		}
	}
}

// An internal error after the response stream has started (here a batch
// whose commit fails, past a committed one) is reported in the stream
// and logged at error level with the request id, the last committed line
// and the line reached, and without the subject's personal data.
func TestBulkStatusInternalErrorMidStreamIsLogged(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	a, _ := tn.enrol(residentName, idNumberN(1))
	b, _ := tn.enrol(residentName, idNumberN(2))
	raw, err := sql.Open("sqlite", tn.cfg.DBPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// A runtime error that is not a constraint violation: the store
	// reports it as an internal error, not as a refused batch.
	if _, err := raw.Exec(fmt.Sprintf(`CREATE TRIGGER fail_b BEFORE UPDATE ON subjects WHEN NEW.id = %q
		BEGIN SELECT json('injected'); END`, b)); err != nil {
		t.Fatal(err)
	}
	// The first batch (a, then missing subjects) fills and commits,
	// which starts the stream; the second, with b, fails.
	var body bytes.Buffer
	fmt.Fprintf(&body, `{"subject":%q,"status":"yellow"}`+"\n", a)
	for i := 1; i < node.BulkBatchLines; i++ {
		fmt.Fprintf(&body, `{"subject":"s_missing%d","status":"red"}`+"\n", i)
	}
	fmt.Fprintf(&body, `{"subject":%q,"status":"yellow"}`, b)
	resp, out := tn.bulk(body.String())
	if resp.StatusCode != http.StatusOK || out.err == nil || out.err["code"] != "internal" || out.results[1]["result"] != "applied" {
		t.Fatalf("HTTP %d, stream error %v, line 1 %v: want 200, an internal error in the stream, line 1 applied", resp.StatusCode, out.err, out.results[1])
	}
	reqID := resp.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Fatal("no request id on the response")
	}
	var found map[string]any
	for _, l := range bytes.Split(tn.logs.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && m["level"] == "ERROR" && m["request_id"] == reqID {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no error-level log line with request id %s in:\n%s", reqID, tn.logs.Bytes())
	}
	last, line := float64(node.BulkBatchLines), float64(node.BulkBatchLines+1)
	if found["last_committed_line"] != last || found["line"] != line || found["err"] == nil || found["err"] == "" {
		t.Errorf("log line %v: want last_committed_line %v, line %v and the error", found, last, line)
	}
	for _, personal := range []string{residentName, idNumberN(2), residentTel} {
		if bytes.Contains(tn.logs.Bytes(), []byte(personal)) {
			t.Errorf("logs hold personal data %q", personal)
		}
	}
}

// A body naming a subject twice with two statuses applied them line by
// line, so sending it again changed the subject twice more and revoked
// the codes issued in between. A later line with another status for a
// subject already named in the body is refused (conflict), also in a
// later batch of the same body; a line repeating the same status goes
// ahead.
func TestBulkStatusRefusesASecondStatusForASubjectInOneBody(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	a, ta := tn.enrol(residentName, idNumberN(1))
	lines := []string{
		fmt.Sprintf(`{"subject":%q,"status":"yellow","ref":"first"}`, a),
		fmt.Sprintf(`{"subject":%q,"status":"yellow","ref":"same"}`, a),
	}
	// Enough lines that the last is in the body's second batch.
	for i := len(lines); i < node.BulkBatchLines+2; i++ {
		lines = append(lines, fmt.Sprintf(`{"subject":"s_nobody%d","status":"red"}`, i))
	}
	lines = append(lines, fmt.Sprintf(`{"subject":%q,"status":"green","ref":"other"}`, a))
	body, last := strings.Join(lines, "\n"), len(lines)

	_, out := tn.bulk(body)
	if out.results[1]["result"] != "applied" || out.results[2]["result"] != "unchanged" {
		t.Fatalf("lines 1, 2 = %v, %v; want applied, unchanged", out.results[1], out.results[2])
	}
	if e, _ := out.results[last]["error"].(map[string]any); out.results[last]["result"] != "refused" || e == nil || e["code"] != "conflict" {
		t.Fatalf("line %d = %v, want refused as conflict", last, out.results[last])
	}
	code := tn.issue(a, ta) // issued while yellow, between the two sends
	before := outboxRows(t, tn)
	_, again := tn.bulk(body)
	if again.summary["applied"] != 0.0 || again.summary["revoked"] != 0.0 {
		t.Errorf("repeat summary = %v, want 0 applied, 0 revoked", again.summary)
	}
	if after := outboxRows(t, tn); after != before {
		t.Errorf("outbox rows %d -> %d on a repeat", before, after)
	}
	if v := tn.verify(code.Code); !v.Valid {
		t.Errorf("the code issued between the sends: %+v, want valid", v)
	}
	// The refused line sent again on its own is applied.
	_, retry := tn.bulk(lines[last-1])
	if retry.results[1]["result"] != "applied" {
		t.Errorf("retry = %v, want applied", retry.results[1])
	}
}

// Streams sent at once take turns batch by batch, and every one of them
// is answered in full.
func TestBulkStatusStreamsSentAtOnceAreAllAnswered(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	const streams = 3
	lines := make([]string, node.BulkBatchLines+1) // two batches each
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"subject":"s_nobody%d","status":"red"}`, i)
	}
	body := strings.Join(lines, "\n")
	sums := make(chan map[string]any, streams)
	for range streams {
		go func() {
			var last map[string]any
			defer func() { sums <- last }()
			req, err := http.NewRequest("POST", tn.d.URL+"/v1/statuses", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+tn.operator)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			for dec := json.NewDecoder(resp.Body); dec.More(); {
				var m map[string]any
				if dec.Decode(&m) != nil {
					break
				}
				if m["summary"] != nil {
					last = m["summary"].(map[string]any)
				}
			}
		}()
	}
	for range streams {
		if s := <-sums; s == nil || s["lines"] != float64(len(lines)) || s["refused"] != float64(len(lines)) {
			t.Errorf("summary = %v, want all %d lines answered (refused: no such subject)", s, len(lines))
		}
	}
}
