package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// fuzzRoute is a route of the API with "{}" where the fuzzed parameter
// goes: a path segment (escaped) or, after "?", the raw query.
type fuzzRoute struct{ method, path string }

// fuzzRoutes are the routes FuzzRequest reaches. Left out: key and root
// rotation (each call makes keys, a cost and no parsing) and POST
// /v1/lookups (a well-formed one waits on another province over NATS).
var fuzzRoutes = []fuzzRoute{
	{"POST", "/v1/subjects"}, {"PUT", "/v1/subjects/{}/status"}, {"POST", "/v1/statuses?{}"},
	{"POST", "/v1/subjects/{}/codes"}, {"DELETE", "/v1/subjects/{}"}, {"GET", "/v1/codes/{}/qr.png"},
	{"POST", "/v1/verify"}, {"POST", "/v1/scanners"}, {"GET", "/v1/scanners"}, {"DELETE", "/v1/scanners/{}"},
	{"GET", "/v1/keys"}, {"POST", "/v1/keys/{}/compromise"}, {"POST", "/v1/accounts"}, {"GET", "/v1/accounts"},
	{"POST", "/v1/accounts/{}/tokens"}, {"DELETE", "/v1/accounts/{}/tokens/{}"}, {"DELETE", "/v1/accounts/{}"},
	{"GET", "/v1/subjects/{}/lookups"}, {"GET", "/v1/subjects/{}"}, {"GET", "/v1/subjects/{}/verifications"},
	{"GET", "/v1/subjects/{}/appeals"}, {"POST", "/v1/appeals"}, {"GET", "/v1/appeals?{}"}, {"PUT", "/v1/appeals/{}"},
	{"GET", "/v1/codes/{}/paper.png"}, {"GET", "/v1/whoami"}, {"POST", "/v1/qr"}, {"POST", "/v1/replicas"},
	{"GET", "/v1/replicas"}, {"DELETE", "/v1/replicas/{}"}, {"POST", "/v1/replica/register"},
	{"GET", "/v1/replica/sync"}, {"POST", "/v1/replica/records"}, {"GET", "/wallet?{}"}, {"GET", "/assets/{}"},
	{"GET", "/v1/privacy"}, {"GET", "/v1/federation"}, {"PATCH", "/v1/subjects/{}"}, {"POST", "/v1/audit/lookups"},
}

// FuzzRequest sends arbitrary requests — route, path or query parameter,
// token of each role, body — to a node's API. Whatever it is sent, the
// API answers with a status from its one error table (never a 500), an
// error body {"error":{"code","message"}} whose code maps to that status,
// Cache-Control: no-store on every answer under /v1, errors included,
// and never accepts a body over
// limits.body_bytes.
func FuzzRequest(f *testing.F) {
	tn := startNode(f, "440000", func(c *config.Config) {
		c.Limits.ResidentRate, c.Limits.ResidentBurst = 1000, 10000
		c.Limits.ScannerRate, c.Limits.ScannerBurst = 1e6, 1<<30
	})
	subject, resident := tn.enrol(residentName, residentID)
	code := tn.issue(subject, tn.operator)
	var rep struct {
		Token string `json:"token"`
	}
	if resp := tn.call("POST", "/v1/replicas", tn.operator, map[string]string{"name": "verify-1"}, &rep); resp.StatusCode != http.StatusCreated {
		f.Fatalf("add replica: %d", resp.StatusCode)
	}
	tokens := []string{"", tn.operator, tn.scanner, resident, "hct_AAAA", rep.Token}
	for i := range fuzzRoutes {
		for _, p := range []string{subject, code.JTI, "admin", "lang=en", "after=MC5h&limit=2", "%zz", "../x", "app.js"} {
			f.Add(uint8(i), p, uint8(1), []byte(nil))
		}
	}
	for _, b := range []string{
		`{"name":"李四","id_number":"110105194912310021","consent":{"notice_version":"` + config.NoticeVersion + `","accepted":true}}`,
		`{"status":"red","reason":"close contact"}`, `{"code":"` + code.Code + `"}`, `{"name":"gate","place":"station"}`,
		`{"name":"ops","role":"operator"}`, `{"lifetime":"-1h"}`, `{"lifetime":"9999999999h"}`, `{"message":"wrong"}`,
		`{"outcome":"upheld","note":"n","status":"green"}`, `{"url":"http://x/wallet#token=a"}`, `{"url":"http://node.test/scan#token=hct_x"}`, `{"paper":true}`,
		`{"subject":"` + subject + `","status":"yellow"}` + "\n",
		`{"enc_key":{"kty":"EC","crv":"P-256","x":"","y":""}}`,
		`{"records":[{"id":"r1","time":"2026-11-30T08:00:00Z","scanner":"sc_x","reason":"ok"}]}`,
	} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), subject, uint8(1), []byte(b))
			if strings.HasPrefix(fuzzRoutes[i].path, "/v1/replica/") {
				f.Add(uint8(i), subject, uint8(len(tokens)-1), []byte(b))
			}
		}
	}
	f.Add(uint8(0), "", uint8(1), bytes.Repeat([]byte("x"), int(tn.cfg.Limits.BodyBytes)+1))
	f.Fuzz(func(t *testing.T, route uint8, param string, role uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if r.method == "DELETE" && r.path == "/v1/subjects/{}" && param == subject {
			return // keep the seeded resident, whom most routes are about; others may go
		}
		target := r.path
		if before, ok := strings.CutSuffix(target, "?{}"); ok {
			target = before + "?" + param
		} else {
			target = strings.ReplaceAll(target, "{}", url.PathEscape(param))
		}
		req, err := http.NewRequest(r.method, "http://node.test"+target, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.RemoteAddr = "192.0.2.1:1234"
		if tok := tokens[int(role)%len(tokens)]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		tn.d.API.Handler().ServeHTTP(rec, req)
		status := rec.Code
		if strings.HasPrefix(req.URL.Path, "/v1/") && rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s %s: %d without Cache-Control: no-store", r.method, target, status)
		}
		if (r.method == "POST" || r.method == "PUT") && !strings.HasPrefix(r.path, "/v1/statuses") &&
			int64(len(body)) > int64(tn.cfg.Limits.BodyBytes) && status < 300 {
			t.Fatalf("%s %s: a body of %d bytes, over the limit, answered %d", r.method, target, len(body), status)
		}
		if status < 400 {
			return
		}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %s: %d with body %q (%v)", r.method, target, status, rec.Body.Bytes(), err)
		}
		want, ok := errorStatuses[e.Error.Code]
		if !ok || want != status {
			t.Fatalf("%s %s (body %q): %d %s %q", r.method, target, body, status, e.Error.Code, e.Error.Message)
		}
	})
}

// errorStatuses is the API's documented error table (README, "Error codes
// and statuses"), without internal: no request may cause a 500.
var errorStatuses = map[string]int{
	"invalid": 400, "unauthorized": 401, "forbidden": 403, "role_verifier": 403, "admin_required": 403, "not_found": 404,
	"method_not_allowed": 405, "conflict": 409, "limit_reached": 409, "too_large": 413,
	"consent_required": 422, "field_not_collected": 422, "rate_limited": 429, "unavailable": 503,
	"replica_stale": 503, "replica_unconfirmed": 403, "replica_signature": 403, "status_held": 409, "status_unconfirmed": 409, "lookup_not_scanned": 422, "lookup_unproven": 403,
	"metrics_token_required": 401, "metrics_not_public": 404,
}
