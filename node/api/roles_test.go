package api_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// v1Routes are the server's routes under /v1, sorted, without wildcard
// and not-found routes; with replica false, without the replica's own
// routes (/v1/replica/, which only a replica's token opens). The route
// walks take them from the server, so that a route added later is
// walked too.
func (tn *testNode) v1Routes(replica bool) []echo.Route {
	var out []echo.Route
	for _, r := range tn.d.API.Handler().(*echo.Echo).Routes() {
		if strings.HasPrefix(r.Path, "/v1/") && !strings.HasSuffix(r.Path, "*") && r.Method != echo.RouteNotFound &&
			(replica || !strings.HasPrefix(r.Path, "/v1/replica/")) {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path+out[i].Method < out[j].Path+out[j].Method })
	return out
}

// adminRoutes are the routes only an admin account may call: the
// province's signing and root keys, verifier replicas (a replica receives
// the province's content keys) and accounts. The README's API table says
// the same. An operator may revoke its own account's tokens; the path
// here names another account, which needs an admin.
var adminRoutes = map[string]bool{
	"POST /v1/keys/rotate":                  true,
	"POST /v1/keys/:kid/compromise":         true,
	"POST /v1/keys/root/rotate":             true,
	"POST /v1/keys/content/rekey":           true,
	"POST /v1/replicas":                     true,
	"DELETE /v1/replicas/:id":               true,
	"POST /v1/replicas/:id/confirm":         true,
	"POST /v1/accounts":                     true,
	"POST /v1/accounts/:id/tokens":          true,
	"DELETE /v1/accounts/:id/tokens/:token": true,
	"DELETE /v1/accounts/:id":               true,
}

// A counter clerk's operator token could mark a signing key compromised
// (every code it signed withdrawn, at every province), rotate the keys,
// make a next root key and register or remove verifier replicas. The walk
// calls every route with an operator account's token, with a body of
// "{}" and a malformed one: each admin route answers 403 admin_required,
// naming what needs an admin, before it reads the body, and records the
// refusal in the audit log under the account; no other route answers
// admin_required. Then the init token's admin does the same operations.
func TestEveryAdminRouteRefusesAnOperator(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	victim, _ := n.enrol(residentName, residentID)
	var clerk newAccountToken
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "clerk", "role": "operator"}, &clerk); r.StatusCode != 201 {
		t.Fatalf("create the clerk's account: %d", r.StatusCode)
	}
	var keys struct {
		Keys []struct {
			KID   string `json:"kid"`
			State string `json:"state"`
		} `json:"keys"`
	}
	if r := n.call("GET", "/v1/keys", clerk.Token, nil, &keys); r.StatusCode != 200 || len(keys.Keys) == 0 {
		t.Fatalf("an operator lists the keys: %d %+v", r.StatusCode, keys)
	}
	active := keys.Keys[0].KID

	refused := 0
	for _, r := range n.v1Routes(false) {
		key := r.Method + " " + r.Path
		if !adminRoutes[key] {
			// Only the admin routes need an admin; the daily work is
			// walked by the route's own tests. A write that would change
			// the walk's later answers is left out.
			if r.Method != http.MethodGet {
				continue
			}
			path := strings.NewReplacer(":id", victim, ":jti", "x").Replace(r.Path)
			if _, code := n.status(r.Method, path, clerk.Token, nil); code == "admin_required" {
				t.Errorf("%s as an operator: admin_required, but it is no admin route", key)
			}
			continue
		}
		path := strings.NewReplacer(":kid", active, ":id", "admin", ":token", "tk_x").Replace(r.Path)
		for _, body := range []string{"{}", `{"name": [`} {
			before := n.auditCount("admin.refused")
			var e apiError
			resp := n.call(r.Method, path, clerk.Token, body, &e)
			if resp.StatusCode != http.StatusForbidden || e.Error.Code != "admin_required" || !strings.Contains(e.Error.Message, "only an admin account may") {
				t.Errorf("%s as an operator with body %q: HTTP %d %+v, want 403 admin_required naming the admin", key, body, resp.StatusCode, e)
			}
			if got := n.auditCount("admin.refused"); got != before+1 {
				t.Errorf("%s as an operator: %d admin.refused audit entries, want %d", key, got, before+1)
			}
		}
		refused++
	}
	if want := len(adminRoutes); refused != want {
		t.Fatalf("%d admin routes walked, want %d: a route of adminRoutes is gone or renamed", refused, want)
	}
	var actor string
	if err := n.rawDB().QueryRow(`SELECT actor FROM audit WHERE action = 'admin.refused' AND target = 'key.compromise'`).Scan(&actor); err != nil ||
		actor != "operator:clerk" {
		t.Errorf("the refused compromise is audited as %q (%v), want operator:clerk", actor, err)
	}
	if r := n.call("GET", "/v1/keys", clerk.Token, nil, &keys); r.StatusCode != 200 || keys.Keys[0].KID != active || keys.Keys[0].State != "active" {
		t.Fatalf("the keys after the operator's tries: %d %+v, want %s still active", r.StatusCode, keys, active)
	}

	// The admin may.
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/v1/keys/rotate", nil, http.StatusOK},
		{"POST", "/v1/keys/" + active + "/compromise", nil, http.StatusOK},
		{"POST", "/v1/keys/root/rotate", nil, http.StatusOK},
		{"POST", "/v1/keys/content/rekey", nil, http.StatusOK},
		{"POST", "/v1/replicas", map[string]string{"name": "gd-verify-1"}, http.StatusCreated},
		{"POST", "/v1/replicas/gd-verify-1/confirm", map[string]string{"fingerprint": strings.Repeat("A", 32)}, http.StatusOK},
		{"DELETE", "/v1/replicas/gd-verify-1", nil, http.StatusNoContent},
	} {
		if st, code := n.status(c.method, c.path, n.operator, c.body); st != c.want {
			t.Errorf("%s %s as the admin: HTTP %d %s, want %d", c.method, c.path, st, code, c.want)
		}
	}
	for _, action := range []string{"key.rotate", "key.compromise", "key.root_next", "replica.add", "replica.confirm", "replica.remove"} {
		if n.auditCount(action) != 1 {
			t.Errorf("%d %s audit entries after the admin's, want 1", n.auditCount(action), action)
		}
	}
}
