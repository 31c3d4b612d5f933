package api_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// Tests of what one resident, or someone with a resident's token, may do
// to the node and to other residents (issue 9, items 2, 3, 10, 11, 12).

// idNumberN makes the n-th distinct resident identity number.
func idNumberN(n int) string { return testkit.IDNumber("310115198506", n) }

// generous lifts the resident rate limit, for tests of other bounds.
func generous(c *config.Config) { c.Limits.ResidentRate, c.Limits.ResidentBurst = 1000, 10000 }

func TestSecondEnrolmentOfOneIDNumberIsRefusedNamingTheFirst(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	first, _ := n.enrol(residentName, residentID)
	n.call("PUT", "/v1/subjects/"+first+"/status", n.operator, map[string]string{"status": "red"}, nil)
	lower := strings.ToLower(residentID) // …002x is the same number as …002X
	for _, id := range []string{residentID, lower} {
		var e apiError
		resp := n.call("POST", "/v1/subjects", n.operator, enrolment("张三", id), &e)
		if resp.StatusCode != http.StatusConflict || e.Error.Code != "conflict" || !strings.Contains(e.Error.Message, first) {
			t.Fatalf("enrolling %s again: %d %+v, want 409 conflict naming %s", id, resp.StatusCode, e, first)
		}
	}
	if got := countRows(t, n)["subjects"]; got != 1 {
		t.Fatalf("%d subjects, want 1", got)
	}
	// Deleting the subject frees the number: its index value went with it.
	if st, _ := n.status("DELETE", "/v1/subjects/"+first, n.operator, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	again, _ := n.enrol(residentName, lower)
	var rec record
	n.call("GET", "/v1/subjects/"+again, n.operator, nil, &rec)
	if rec.Status != "green" {
		t.Fatalf("re-enrolled subject: %+v", rec)
	}
}

func TestSubjectsEnrolledBeforeTheIndexAreIndexedAtStart(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	first, _ := n.enrol(residentName, residentID)
	n.stop()
	// A database from before the index: no values, not marked complete.
	keys := rawKeys(t, n)
	mustExecKeys(t, keys, `DELETE FROM subject_index`, `UPDATE subject_index_key SET complete = 0`)
	keys.Close()
	n.start()
	var e apiError
	if resp := n.call("POST", "/v1/subjects", n.operator, enrolment("张三", residentID), &e); resp.StatusCode != 409 ||
		!strings.Contains(e.Error.Message, first) {
		t.Fatalf("enrolling an old subject's number: %d %+v, want 409 naming %s", resp.StatusCode, e, first)
	}
}

func TestForgedCodeWithARealJTIStaysOutOfTheResidentsHistory(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Limits.ScannerRate, c.Limits.ScannerBurst = 1e6, 1e6 })
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	if v := n.verify(c.Code); !v.Valid {
		t.Fatalf("genuine code: %+v", v)
	}
	forged := forgeSignature(t, c.Code)
	const forgeries = 501 // more than the history's 500-entry cap
	for range forgeries {
		if v := n.verify(forged); v.Valid || v.Reason != "bad_signature" {
			t.Fatalf("forgery: %+v, want bad_signature", v)
		}
	}
	// Verified again after the forgeries: once this verification is
	// listed, they were written. The two genuine verifications are one
	// scanner's repeats, listed once, as the newest.
	n.clock.Add(time.Second)
	again := n.clock.Now().Truncate(time.Microsecond)
	n.verify(c.Code)
	var got []verificationRecord
	waitFor(t, 10*time.Second, func() error {
		if got = n.verifications(id, n.operator); len(got) == 0 || got[0].Time.Before(again) {
			return fmt.Errorf("the last verification is not listed yet (%d listed)", len(got))
		}
		return nil
	})
	if len(got) != 1 || !got[0].Valid || got[0].JTI != c.JTI {
		t.Fatalf("history holds %d entries (first %+v); want exactly the genuine verification", len(got), got[0])
	}
	if m := n.metric(`hcfed_verifications_total{issuer="440000",reason="bad_signature"}`); !strings.HasSuffix(m, fmt.Sprint(" ", forgeries)) {
		t.Fatalf("forgeries not counted: %q", m)
	}
}

// forgeSignature changes one character in the middle of a code's
// signature: the jti and everything else stay real.
func forgeSignature(t *testing.T, code string) string {
	t.Helper()
	i := strings.LastIndexByte(code, '.')
	if i < 0 || len(code)-i < 20 {
		t.Fatalf("code %.20q has no signature segment", code)
	}
	b := []byte(code)
	mid := i + (len(code)-i)/2
	if b[mid] == 'A' {
		b[mid] = 'B'
	} else {
		b[mid] = 'A'
	}
	return string(b)
}

func TestResidentRequestsAreRateLimitedPerResident(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Limits.ResidentRate, c.Limits.ResidentBurst = 1, 4 })
	id, resident := n.enrol(residentName, residentID)
	other, otherTok := n.enrol(otherName, otherID)
	c := n.issue(id, resident) // 1 of the burst
	for i := range 3 {
		if st, _ := n.status("GET", c.QRURL, resident, nil); st != 200 {
			t.Fatalf("request %d within the burst: %d", i+2, st)
		}
	}
	for _, path := range []string{c.QRURL, "/v1/subjects/" + id, "/v1/subjects/" + id + "/verifications"} {
		if st, code := n.status("GET", path, resident, nil); st != 429 || code != "rate_limited" {
			t.Fatalf("GET %s past the burst: %d %s, want 429 rate_limited", path, st, code)
		}
	}
	if st, code := n.status("POST", "/v1/appeals", resident, map[string]string{"message": "wrong colour"}); st != 429 || code != "rate_limited" {
		t.Fatalf("appeal past the burst: %d %s", st, code)
	}
	if st, _ := n.status("GET", "/v1/subjects/"+other, otherTok, nil); st != 200 {
		t.Fatalf("another resident is limited by the first: %d", st)
	}
	if st, _ := n.status("GET", c.QRURL, n.operator, nil); st != 200 {
		t.Fatalf("an operator is limited by a resident: %d", st)
	}
	if v := n.verify(c.Code); !v.Valid {
		t.Fatalf("scanner: %+v", v)
	}
	n.clock.Add(time.Second)
	if st, _ := n.status("GET", c.QRURL, resident, nil); st != 200 {
		t.Fatalf("a second later: %d, want 200", st)
	}
}

func TestOneResidentsAppealsDoNotHideAnothersAndTheQueuePages(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	a, aTok := n.enrol(residentName, residentID)
	b, bTok := n.enrol(otherName, otherID)
	filed := 0
	for i := range 150 {
		n.clock.Add(time.Millisecond) // the queue's order is the filing order
		st, code := n.status("POST", "/v1/appeals", aTok, map[string]string{"message": fmt.Sprint("appeal ", i)})
		switch {
		case st == 201:
			filed++
		case st != 409 || code != "limit_reached":
			t.Fatalf("appeal %d: %d %s, want 201 or 409 limit_reached", i, st, code)
		}
	}
	if filed != 3 {
		t.Fatalf("%d open appeals filed by one resident, want 3", filed)
	}
	n.clock.Add(time.Millisecond)
	var bApp appeal
	if resp := n.call("POST", "/v1/appeals", bTok, map[string]string{"message": "I was never there"}, &bApp); resp.StatusCode != 201 {
		t.Fatalf("second resident's appeal: %d", resp.StatusCode)
	}
	var first struct {
		Appeals []appeal
		Next    string
	}
	n.call("GET", "/v1/appeals", n.operator, nil, &first)
	if len(first.Appeals) != 4 || first.Appeals[3].SubjectID != b || first.Appeals[0].SubjectID != a || first.Next != "" {
		t.Fatalf("queue: %d appeals, next %q; want a's 3 then b's", len(first.Appeals), first.Next)
	}

	var paged []string
	next := ""
	for pages := 0; ; pages++ {
		var page struct {
			Appeals []appeal
			Next    string
		}
		if resp := n.call("GET", "/v1/appeals?limit=3&after="+next, n.operator, nil, &page); resp.StatusCode != 200 || pages > 3 {
			t.Fatalf("page %d: %d", pages, resp.StatusCode)
		}
		for _, ap := range page.Appeals {
			paged = append(paged, ap.ID)
		}
		if next = page.Next; next == "" {
			break
		}
	}
	var want []string
	for _, ap := range first.Appeals {
		want = append(want, ap.ID)
	}
	if fmt.Sprint(paged) != fmt.Sprint(want) {
		t.Fatalf("paged %v, want %v", paged, want)
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?after=bm90LWEtY3Vyc29y", "?after=%25%25"} {
		if st, code := n.status("GET", "/v1/appeals"+q, n.operator, nil); st != 400 || code != "invalid" {
			t.Errorf("GET /v1/appeals%s: %d %s, want 400 invalid", q, st, code)
		}
	}
	// Resolving one of a's appeals makes room for the next.
	if st, _ := n.status("PUT", "/v1/appeals/"+first.Appeals[0].ID, n.operator, map[string]string{"outcome": "rejected"}); st != 200 {
		t.Fatalf("resolve: %d", st)
	}
	if st, _ := n.status("POST", "/v1/appeals", aTok, map[string]string{"message": "once more"}); st != 201 {
		t.Fatalf("appeal after one was resolved: %d", st)
	}
}

func TestQRImageAnswersAnotherResidentsCodeAsAnUnknownOne(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	_, other := n.enrol(otherName, otherID)
	c := n.issue(id, resident)
	unknown := "/v1/codes/" + strings.Repeat("A", len(c.JTI)) + "/qr.png"
	// Another resident gets the unknown code's 404; a scanner, which may
	// not fetch images at all, the same 403 for both.
	for tok, want := range map[string]int{other: 404, n.scanner: 403} {
		mine := n.call("GET", c.QRURL, tok, nil, nil)
		none := n.call("GET", unknown, tok, nil, nil)
		var a, b bytes.Buffer
		a.ReadFrom(mine.Body)
		b.ReadFrom(none.Body)
		if mine.StatusCode != none.StatusCode || !bytes.Equal(a.Bytes(), b.Bytes()) || mine.StatusCode != want {
			t.Fatalf("another's code: %d %s; unknown code: %d %s; want the same %d", mine.StatusCode, a.Bytes(), none.StatusCode, b.Bytes(), want)
		}
	}
	if st, _ := n.status("GET", c.QRURL, resident, nil); st != 200 {
		t.Fatalf("own code: %d", st)
	}
}

func TestFreeTextWithControlBidiOrInvisibleCharactersIsRefused(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	id, resident := n.enrol(residentName, residentID)
	before := countRows(t, n)
	for i, name := range []string{"张\x00三", "张\n三", "张\t三", "张\u202e三", "\u2066张三\u2069", "\u200b\u200b", "\u200d", "\u3000", " ", "张\u0085三", "张\u2028三"} {
		st, code := n.status("POST", "/v1/subjects", n.operator, enrolment(name, idNumberN(i)))
		if st != 400 || code != "invalid" {
			t.Errorf("name %q: %d %s, want 400 invalid", name, st, code)
		}
	}
	for _, reason := range []string{"close\ncontact", "\u202eesolc", "\u200b", "  "} {
		if st, code := n.status("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": reason}); st != 400 || code != "invalid" {
			t.Errorf("reason %q: %d %s, want 400 invalid", reason, st, code)
		}
	}
	for _, msg := range []string{"wrong \u202ecolour", "\u200b\u200c\ufeff", "\x00", " \n "} {
		if st, code := n.status("POST", "/v1/appeals", resident, map[string]string{"message": msg}); st != 400 || code != "invalid" {
			t.Errorf("appeal %q: %d %s, want 400 invalid", msg, st, code)
		}
	}
	var rec record
	n.call("GET", "/v1/subjects/"+id, n.operator, nil, &rec)
	var mine struct{ Appeals []appeal }
	n.call("GET", "/v1/subjects/"+id+"/appeals", n.operator, nil, &mine)
	if after := countRows(t, n); fmt.Sprint(after) != fmt.Sprint(before) || rec.Status != "green" || len(mine.Appeals) != 0 {
		t.Fatalf("refused text changed the node: %v → %v, status %s, %d appeals", before, after, rec.Status, len(mine.Appeals))
	}
	// What people write is still accepted: names in any script, a
	// multi-line appeal.
	n.enrol("Zoë Ó'Brien-Nuñez", idNumberN(50))
	n.enrol("阿依古丽·买买提", idNumberN(51))
	if st, _ := n.status("POST", "/v1/appeals", resident, map[string]string{"message": "I was at home.\nAsk my neighbour."}); st != 201 {
		t.Fatalf("multi-line appeal: %d", st)
	}
}

func TestJSONKeysAreMatchedExactlyAndOnceOnEveryRoute(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	id, resident := n.enrol(residentName, residentID)
	before := countRows(t, n)
	for _, tc := range []struct{ method, path, token, body string }{
		{"POST", "/v1/subjects", n.operator, `{"Name":"王五","id_number":"310115198506078825","consent":{"notice_version":"` + config.NoticeVersion + `","accepted":true}}`},
		{"POST", "/v1/subjects", n.operator, `{"name":"王五","id_number":"310115198506078825","consent":{"notice_version":"` + config.NoticeVersion + `","Accepted":true}}`},
		{"POST", "/v1/subjects", n.operator, `{"name":"王五","name":"赵六","id_number":"310115198506078825","consent":{"notice_version":"` + config.NoticeVersion + `","accepted":true}}`},
		{"PUT", "/v1/subjects/" + id + "/status", n.operator, `{"status":"red","status":"green"}`},
		{"PUT", "/v1/subjects/" + id + "/status", n.operator, `{"STATUS":"red"}`},
		{"POST", "/v1/appeals", resident, `{"message":"a","Message":"b"}`},
		{"POST", "/v1/subjects/" + id + "/codes", resident, `{"Paper":false}`},
		{"POST", "/v1/verify", n.scanner, `{"code":"x","code":"y"}`},
	} {
		var e apiError
		if resp := n.call(tc.method, tc.path, tc.token, tc.body, &e); resp.StatusCode != 400 || e.Error.Code != "invalid" {
			t.Errorf("%s %s %s: %d %+v, want 400 invalid", tc.method, tc.path, tc.body, resp.StatusCode, e)
		}
	}
	var rec record
	n.call("GET", "/v1/subjects/"+id, n.operator, nil, &rec)
	if after := countRows(t, n); fmt.Sprint(after) != fmt.Sprint(before) || rec.Status != "green" {
		t.Fatalf("refused bodies changed the node: %v → %v, status %s", before, after, rec.Status)
	}
}

// rawKeys opens the node's key store behind its back, as a database from
// before a schema change would look.
func rawKeys(t *testing.T, n *testNode) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", store.KeysPath(n.cfg.DBPath())+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExecKeys(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A code signed by a key the operators then marked compromised fails at
// every scanner (key_compromised), but nothing revokes it: its image was
// still served, so the wallet kept showing it (it shows the code it showed
// last while that code lives) for up to a day. Its image is now refused
// as a revoked one's is, so the wallet issues a code of the new key.
func TestQRImageOfACodeOfACompromisedKeyIsRefusedAndANewCodeVerifies(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	old := n.issue(id, resident)
	if st, _ := n.status("GET", old.QRURL, resident, nil); st != http.StatusOK {
		t.Fatalf("QR before the compromise: %d", st)
	}
	if resp := n.call("POST", "/v1/keys/"+testkit.CodeKID(t, old.Code)+"/compromise", n.operator, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	if v := n.verify(old.Code); v.Reason != "key_compromised" {
		t.Fatalf("code of the compromised key: %+v", v)
	}
	if st, code := n.status("GET", old.QRURL, resident, nil); st != http.StatusNotFound || code != "not_found" {
		t.Fatalf("QR of a code of a compromised key: %d %s, want 404 not_found, as for a revoked code", st, code)
	}
	fresh := n.issue(id, resident)
	if v := n.verify(fresh.Code); !v.Valid {
		t.Fatalf("the code issued after the compromise: %+v", v)
	}
	if st, _ := n.status("GET", fresh.QRURL, resident, nil); st != http.StatusOK {
		t.Fatalf("QR of the new code: %d", st)
	}
}
