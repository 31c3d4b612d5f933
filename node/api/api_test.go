package api_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
	_ "modernc.org/sqlite"
)

func TestEnrolIssueVerifyThenStatusChangeRevokes(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)

	c := n.issue(id, resident)
	v := n.verify(c.Code)
	if !v.Valid || v.Reason != "ok" || v.Status != "green" || v.MaskedName != "张*" || v.Issuer != "440000" || v.Exp != c.Exp {
		t.Fatalf("fresh code: %+v", v)
	}
	// A code refreshed soon after is signed from the issuance cache.
	if v := n.verify(n.issue(id, resident).Code); !v.Valid || v.Status != "green" || v.MaskedName != "张*" {
		t.Fatalf("second code: %+v", v)
	}
	if m := n.metric(`hcfed_issue_cache_requests_total{result="hit"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("issuance cache hits: %q, want 1", m)
	}

	var st map[string]string
	if resp := n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red", "reason": "close contact"}, &st); resp.StatusCode != 200 {
		t.Fatalf("status: %d", resp.StatusCode)
	}
	if v := n.verify(c.Code); v.Valid || v.Reason != "revoked" || v.Status != "" || v.MaskedName != "" {
		t.Fatalf("code after status change: %+v", v)
	}
	c2 := n.issue(id, n.operator)
	if v := n.verify(c2.Code); !v.Valid || v.Status != "red" {
		t.Fatalf("new code after status change: %+v", v)
	}
	// The status change dropped the cached read: the code after it was
	// read afresh, not signed green and refused by the store first.
	if hit, miss := n.metric(`hcfed_issue_cache_requests_total{result="hit"}`), n.metric(`hcfed_issue_cache_requests_total{result="miss"}`); !strings.HasSuffix(hit, " 1") || !strings.HasSuffix(miss, " 2") {
		t.Errorf("issuance cache: %q, %q; want 1 hit and 2 misses (the first code, the first after the status change)", hit, miss)
	}
}

func TestVerifyAcceptsTheLineEndingAScannerAppends(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	for _, suffix := range []string{"\r\n", "\n", "\r"} {
		if v := n.verify(c.Code + suffix); !v.Valid {
			t.Fatalf("code + %q: %+v", suffix, v)
		}
	}
	if v := n.verify("\n" + c.Code); v.Valid {
		t.Fatal("leading garbage accepted: only the scanner's line ending is trimmed")
	}
}

func TestCodeCarriesOnlyPublicClaimsInClear(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	parts := strings.Split(strings.TrimPrefix(c.Code, "HCF1:"), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", c.Code)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "ct,exp,iat,iss,jti,v" {
		t.Fatalf("clear claims %v, want exactly ct,exp,iat,iss,jti,v", keys)
	}
	// The clear claims' text: iat and exp are times, whose digits hold
	// "1234" for ten seconds in every ten thousand, so they are compared
	// as the numbers they are, not searched.
	// ct and jti are base64url text of random bytes, which spells "1234"
	// or "002X" in about one code in 18,000: they are searched decoded
	// (testkit.ReadableParts), the encrypted part as far as it decodes.
	readable, err := testkit.ReadableParts(payload, "jti", "ct")
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, b := range readable[1:] {
		text = append(text, string(b))
	}
	for k, v := range claims {
		switch v := v.(type) {
		case string:
			if k != "ct" && k != "jti" {
				text = append(text, v)
			}
		case float64:
			if k != "iat" && k != "exp" {
				text = append(text, fmt.Sprint(v))
			}
		default:
			t.Fatalf("clear claim %s is %T", k, v)
		}
	}
	for _, secret := range []string{residentName, residentID, residentTel, "张", "1234", "002X"} {
		for _, clear := range text {
			if strings.Contains(clear, secret) {
				t.Fatalf("code holds %q in clear", secret)
			}
		}
	}
}

func TestRestartedNodeVerifiesEarlierCodesAndSignsWithSameKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	before := n.issue(id, resident)
	var keysBefore map[string]any
	n.call("GET", "/.well-known/jwks.json", "", nil, &keysBefore)

	n.restart()

	if v := n.verify(before.Code); !v.Valid {
		t.Fatalf("code from before the restart: %+v", v)
	}
	var keysAfter map[string]any
	n.call("GET", "/.well-known/jwks.json", "", nil, &keysAfter)
	if a, b := mustJSON(t, keysBefore), mustJSON(t, keysAfter); a != b {
		t.Fatalf("JWKS changed across restart:\n%s\n%s", a, b)
	}
	after := n.issue(id, resident)
	if testkit.CodeKID(t, after.Code) != testkit.CodeKID(t, before.Code) {
		t.Fatal("restarted node signs with a different key")
	}
}

func TestRotationKeepsOldCodesValidAndCompromiseKillsThem(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	old := n.issue(id, resident)

	var keys struct {
		Keys []struct{ KID, State string }
	}
	if resp := n.call("POST", "/v1/keys/rotate", n.operator, nil, &keys); resp.StatusCode != 200 {
		t.Fatalf("rotate: %d", resp.StatusCode)
	}
	fresh := n.issue(id, resident)
	if testkit.CodeKID(t, fresh.Code) == testkit.CodeKID(t, old.Code) {
		t.Fatal("rotation did not change the signing key")
	}
	if v := n.verify(old.Code); !v.Valid {
		t.Fatalf("code of retired key: %+v", v)
	}
	if v := n.verify(fresh.Code); !v.Valid {
		t.Fatalf("code of new key: %+v", v)
	}
	states := map[string]string{}
	for _, k := range keys.Keys {
		states[k.KID] = k.State
	}
	if states[testkit.CodeKID(t, old.Code)] != "retired" || states[testkit.CodeKID(t, fresh.Code)] != "active" {
		t.Fatalf("key states after rotation: %v", states)
	}

	if resp := n.call("POST", "/v1/keys/"+testkit.CodeKID(t, old.Code)+"/compromise", n.operator, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("compromise: %d", resp.StatusCode)
	}
	if v := n.verify(old.Code); v.Valid || v.Reason != "key_compromised" {
		t.Fatalf("code of compromised key: %+v", v)
	}
	if v := n.verify(fresh.Code); !v.Valid {
		t.Fatalf("code of the other key: %+v", v)
	}
}

func TestExpiredAndNotYetValidCodes(t *testing.T) {
	t.Parallel()
	// No staleness limit here: the clock jumps a day, and this test is
	// about the code's own validity, not the node's contact with peers.
	n := startNode(t, "440000", func(c *config.Config) { c.Trust.StaleLimit = 0 })
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	n.clock.Add(-10 * time.Minute)
	if v := n.verify(c.Code); v.Reason != "not_yet_valid" {
		t.Fatalf("from the past: %+v", v)
	}
	n.clock.Add(10*time.Minute + 25*time.Hour)
	if v := n.verify(c.Code); v.Reason != "expired" {
		t.Fatalf("a day later: %+v", v)
	}
}

func TestInvalidCodesAre200WithReason(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	for code, want := range map[string]string{
		"":                                  "malformed",
		"hello":                             "malformed",
		"HCF1:" + strings.Repeat(".", 1500): "malformed",
		"HCF1:" + strings.Repeat("A", 3000): "oversized",
		"HCF1:eyJhbGciOiJub25lIiwia2lkIjoieCIsInR5cCI6ImhjZmVkLWNvZGUrand0In0.e30.": "bad_algorithm",
	} {
		if v := n.verify(code); v.Valid || v.Reason != want {
			t.Errorf("code %.20q: %+v, want %s", code, v, want)
		}
	}
}

func TestBadRequestsGetJSONErrorsAndChangeNothing(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	other, _ := n.enrol("李四", "110105194912310046")
	before := countRows(t, n)

	noConsent := enrolment("王五", "310115198506078825")
	noConsent["consent"] = map[string]any{"notice_version": config.NoticeVersion, "accepted": false}
	oldNotice := enrolment("王五", "310115198506078825")
	oldNotice["consent"] = map[string]any{"notice_version": "2019-01", "accepted": true}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no token", "POST", "/v1/subjects", "", enrolment("王五", "310115198506078825"), 401, "unauthorized"},
		{"unknown token", "POST", "/v1/subjects", "hct_nope", enrolment("王五", "310115198506078825"), 401, "unauthorized"},
		{"malformed JSON", "POST", "/v1/subjects", n.operator, `{"name":`, 400, "invalid"},
		{"empty body", "POST", "/v1/subjects", n.operator, ``, 400, "invalid"},
		{"unknown field", "POST", "/v1/subjects", n.operator, `{"name":"王五","birthday":"1990"}`, 400, "invalid"},
		{"trailing data", "POST", "/v1/subjects", n.operator, `{"name":"王五"} {}`, 400, "invalid"},
		{"wrong type", "POST", "/v1/subjects", n.operator, `{"name":5}`, 400, "invalid"},
		{"no consent", "POST", "/v1/subjects", n.operator, noConsent, 422, "consent_required"},
		{"old notice", "POST", "/v1/subjects", n.operator, oldNotice, 422, "consent_required"},
		{"bad id number", "POST", "/v1/subjects", n.operator, enrolment("王五", "110105194912310039"), 400, "invalid"},
		{"oversized body", "POST", "/v1/subjects", n.operator, `{"name":"` + strings.Repeat("x", 64<<10) + `"}`, 413, "too_large"},
		{"bad status", "PUT", "/v1/subjects/" + id + "/status", n.operator, `{"status":"purple"}`, 400, "invalid"},
		{"unknown subject", "PUT", "/v1/subjects/s_nobody/status", n.operator, `{"status":"red"}`, 404, "not_found"},
		{"resident sets status", "PUT", "/v1/subjects/" + id + "/status", resident, `{"status":"green"}`, 403, "forbidden"},
		{"resident issues for another", "POST", "/v1/subjects/" + other + "/codes", resident, nil, 403, "forbidden"},
		{"resident deletes another", "DELETE", "/v1/subjects/" + other, resident, nil, 403, "forbidden"},
		{"resident asks paper code", "POST", "/v1/subjects/" + id + "/codes", resident, `{"paper":true}`, 403, "forbidden"},
		{"scanner enrols", "POST", "/v1/subjects", n.scanner, enrolment("王五", "310115198506078825"), 403, "forbidden"},
		{"operator verifies", "POST", "/v1/verify", n.operator, `{"code":"HCF1:x"}`, 403, "forbidden"},
		{"unknown route", "GET", "/v1/scans", n.operator, nil, 404, "not_found"},
		{"wrong method", "POST", "/healthz", "", nil, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			tok := tc.token
			resp := n.call(tc.method, tc.path, tok, tc.body, &e)
			if resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, e, tc.status, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
		})
	}
	if after := countRows(t, n); !maps.Equal(after, before) {
		t.Fatalf("bad requests changed the database: %v → %v", before, after)
	}
}

func TestMinimalCollectionRefusesFieldsNotConfigured(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Collect = []string{"name", "id_number"} })
	var e apiError
	resp := n.call("POST", "/v1/subjects", n.operator, enrolment(residentName, residentID), &e)
	if resp.StatusCode != 422 || e.Error.Code != "field_not_collected" {
		t.Fatalf("phone accepted though not collected: %d %+v", resp.StatusCode, e)
	}
}

func TestScannerTokenReachesOnlyVerify(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, _ := n.enrol(residentName, residentID)
	c := n.issue(id, n.operator)
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/subjects"}, {"PUT", "/v1/subjects/" + id + "/status"}, {"POST", "/v1/subjects/" + id + "/codes"},
		{"DELETE", "/v1/subjects/" + id}, {"GET", c.QRURL}, {"GET", "/v1/scanners"}, {"POST", "/v1/scanners"},
		{"GET", "/v1/keys"}, {"POST", "/v1/keys/rotate"}, {"POST", "/v1/keys/root/rotate"},
	} {
		var e apiError
		resp := n.call(r.method, r.path, n.scanner, `{}`, &e)
		if resp.StatusCode != 403 || e.Error.Code != "forbidden" {
			t.Errorf("scanner %s %s: %d %+v", r.method, r.path, resp.StatusCode, e)
		}
	}
	if v := n.verify(c.Code); !v.Valid {
		t.Fatalf("verify after refusals: %+v", v)
	}
}

func TestQRImageScansBackToTheCode(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	resp := n.call("GET", c.QRURL, resident, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("qr: %d %v", resp.StatusCode, resp.Header)
	}
	// scanQR reads the image as a phone would, trying each rotation: the
	// decoder misses an occasional dense code in one orientation.
	if got, _ := scanQR(t, resp.Body); got != c.Code {
		t.Fatalf("QR holds %q, want the code", got)
	}
}

func TestDeletionRevokesAndShreds(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	if resp := n.call("DELETE", "/v1/subjects/"+id, resident, nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if v := n.verify(c.Code); v.Reason != "revoked" {
		t.Fatalf("code of deleted resident: %+v", v)
	}
	if resp := n.call("GET", c.QRURL, n.operator, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("qr of deleted resident: %d", resp.StatusCode)
	}
	if resp := n.call("POST", "/v1/subjects/"+id+"/codes", resident, nil, nil); resp.StatusCode != 401 {
		t.Fatalf("deleted resident's token still works: %d", resp.StatusCode)
	}
	n.restart()
	if v := n.verify(c.Code); v.Reason != "revoked" {
		t.Fatalf("after restart: %+v", v)
	}
}

func TestHealthReadinessMetricsAndWellKnown(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, _ := n.enrol(residentName, residentID)
	n.verify(n.issue(id, n.operator).Code)
	waitFor(t, 10*time.Second, func() error {
		if resp := n.call("GET", "/readyz", "", nil, nil); resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 401, "/.well-known/jwks.json": 200,
		"/.well-known/hcfed/keyset": 200, "/v1/privacy": 200, "/v1/federation": 200} {
		if resp := n.call("GET", path, "", nil, nil); resp.StatusCode != want {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	resp := n.call("GET", "/metrics", n.metricsToken, nil, nil)
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	for _, m := range []string{`hcfed_verifications_total{issuer="440000",reason="ok"} 1`, "hcfed_codes_issued_total", "hcfed_verify_duration_seconds", "hcfed_http_requests_total"} {
		if !strings.Contains(b.String(), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	var notice map[string]any
	n.call("GET", "/v1/privacy", "", nil, &notice)
	text, _ := notice["text"].(map[string]any)
	if notice["version"] != config.NoticeVersion || text["zh-CN"] == nil || text["en"] == nil {
		t.Fatalf("privacy notice: %v", notice)
	}
}

func TestNoPlaintextPersonalDataInDatabaseOrLogs(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	people := []struct{ name, id string }{{residentName, residentID}, {"欧阳娜娜", "110105194912310046"}, {"Zhang Wei", "440106199001011235"}}
	// Tokens (and so wallet and scanner links) and whole codes are secrets
	// too: the logs, the metrics and the database may hold a token's hash
	// and a code's id, never either in clear, on the paths that succeed
	// and on those that are refused (another's record, a resident at the
	// scanner route, an unknown token, a damaged code).
	unknown := "hct_" + strings.Repeat("A", 43)
	secrets := []string{residentTel, "删除者", "310115198506078825", n.operator, n.scanner, unknown}
	var others []string // each resident's subject id, tried with the next one's token
	for _, p := range people {
		id, resident := n.enrol(p.name, p.id)
		c := n.issue(id, resident)
		n.verify(c.Code)
		n.call("GET", c.QRURL, resident, nil, nil)
		n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "yellow"}, nil)
		n.verify(c.Code)
		for _, other := range others {
			n.call("GET", "/v1/subjects/"+other, resident, nil, nil)
		}
		n.call("POST", "/v1/verify", resident, map[string]string{"code": c.Code}, nil)
		n.call("POST", "/v1/verify", unknown, map[string]string{"code": c.Code}, nil)
		n.call("POST", "/v1/verify", n.scanner, map[string]string{"code": c.Code + "x"}, nil)
		others = append(others, id)
		secrets = append(secrets, resident, c.Code)
	}
	del, _ := n.enrol("删除者", "310115198506078825")
	n.call("DELETE", "/v1/subjects/"+del, n.operator, nil, nil)
	var scraped bytes.Buffer
	if _, err := scraped.ReadFrom(n.call("GET", "/metrics", n.metricsToken, nil, nil).Body); err != nil ||
		!bytes.Contains(scraped.Bytes(), []byte("hcfed_http_requests_total")) {
		t.Fatalf("metrics: %v %.200s", err, scraped.Bytes())
	}
	metrics := scraped.Bytes()
	n.stop()
	files, _ := filepath.Glob(filepath.Join(n.cfg.DataDir, "*"))
	blobs := map[string][]byte{"logs": n.logs.Bytes(), "metrics": metrics}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			blobs[filepath.Base(f)] = b
		}
	}
	if _, ok := blobs["node.db"]; !ok {
		t.Fatal("database file not found")
	}
	for _, p := range people {
		secrets = append(secrets, p.name, p.id)
	}
	for where, b := range blobs {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q found in clear in %s", s, where)
			}
		}
	}
	if len(blobs["logs"]) == 0 {
		t.Fatal("no logs captured: the log check checked nothing")
	}
}

func countRows(t *testing.T, n *testNode) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+n.cfg.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range []string{"subjects", "codes", "consents", "tokens", "revocations"} {
		var c int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[table] = c
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
