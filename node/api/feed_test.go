package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// feedMay are the routes a feed account's token may call: the status
// changes the health platform sends, and whoami, which tells a page whose
// token it holds.
var feedMay = map[string]bool{
	"POST /v1/statuses":           true,
	"PUT /v1/subjects/:id/status": true,
	"GET /v1/whoami":              true,
}

// feedRefusal is what every refusal of a feed's token says.
const feedRefusal = "the feed role may only send status changes"

// The health platform's status feed used an operator's token, which also
// enrols, issues codes, reads and deletes residents, looks them up in
// other provinces and manages scanners: a stolen feed token was all of
// that. A feed account's token sends a bulk batch and a single status
// change, audited under the account; every other route (enrol, issue,
// read, delete, lookup, scanners, keys, accounts...) answers 403
// forbidden, saying that the feed role may only send statuses, whatever
// the body; and a revoked feed token is refused at once though cached.
func TestAFeedAccountOnlySendsStatuses(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", generous)
	victim, victimTok := n.enrol(residentName, residentID)
	code := n.issue(victim, victimTok)
	var feed newAccountToken
	if r := n.call("POST", "/v1/accounts", n.operator, map[string]string{"name": "platform", "role": "feed", "label": "status feed"}, &feed); r.StatusCode != 201 ||
		feed.Role != "feed" {
		t.Fatalf("create the feed account: %d %+v", r.StatusCode, feed)
	}
	var me map[string]string
	if r := n.call("GET", "/v1/whoami", feed.Token, nil, &me); r.StatusCode != 200 || me["role"] != "feed" || me["account_role"] != "feed" ||
		me["account"] != "platform" {
		t.Fatalf("whoami as the feed: %d %v, want role and account_role feed", r.StatusCode, me)
	}

	resp, out := n.bulkAs(feed.Token, fmt.Sprintf(`{"subject":%q,"status":"yellow","ref":"r1"}`+"\n", victim))
	if resp.StatusCode != 200 || out.summary == nil || out.summary["applied"] != 1.0 {
		t.Fatalf("a bulk batch as the feed: HTTP %d %+v", resp.StatusCode, out)
	}
	if st, c := n.status("PUT", "/v1/subjects/"+victim+"/status", feed.Token, map[string]string{"status": "red", "reason": "test result"}); st != 200 {
		t.Fatalf("a single status as the feed: HTTP %d %s", st, c)
	}
	var actor string
	if err := n.rawDB().QueryRow(`SELECT actor FROM audit WHERE action = 'subject.status' AND target = ? ORDER BY rowid DESC LIMIT 1`, victim).
		Scan(&actor); err != nil || actor != "feed:platform" {
		t.Errorf("the feed's status change is audited as %q (%v), want feed:platform", actor, err)
	}

	tried := 0
	for _, r := range n.v1Routes(false) {
		key := r.Method + " " + r.Path
		if key == "GET /v1/privacy" || key == "GET /v1/federation" || feedMay[key] {
			continue
		}
		path := strings.NewReplacer(":id", victim, ":jti", code.JTI, ":kid", "kid", ":token", feed.TokenID).Replace(r.Path)
		for i, body := range []string{"{}", `{"name": [`} {
			var e apiError
			before := n.auditCount("access.refused")
			resp := n.call(r.Method, path, feed.Token, body, nil)
			json.NewDecoder(resp.Body).Decode(&e) //nolint:errcheck // checked below
			if resp.StatusCode != http.StatusForbidden || e.Error.Code != "forbidden" || !strings.Contains(e.Error.Message, feedRefusal) {
				t.Errorf("%s as the feed with body %q: HTTP %d %+v, want 403 forbidden saying %q", key, body, resp.StatusCode, e, feedRefusal)
			}
			// A stolen feed token's probing is on record, as a clerk's
			// trying the keys is (admin.refused): each route once a
			// minute, the second try of the same route only counted.
			if got, want := n.auditCount("access.refused"), before+1-i; got != want {
				t.Errorf("%s as the feed with body %q: %d access.refused audit entries, want %d", key, body, got, want)
			}
		}
		tried++
	}
	if tried < 30 {
		t.Fatalf("only %d routes tried: the walk missed the API", tried)
	}
	var refusedBy string
	if err := n.rawDB().QueryRow(`SELECT actor FROM audit WHERE action = 'access.refused' AND target = 'POST /v1/subjects' LIMIT 1`).
		Scan(&refusedBy); err != nil || refusedBy != "feed:platform" {
		t.Errorf("the feed's refused enrolment is audited by %q (%v), want feed:platform, the route as its target", refusedBy, err)
	}
	// Nothing of the victim's went: the record reads, the code is there.
	if st, c := n.status("GET", "/v1/subjects/"+victim, n.operator, nil); st != 200 {
		t.Errorf("the victim's record after the feed's walk: HTTP %d %s", st, c)
	}

	// Revoked, the feed's token (cached by the calls above) stops at once.
	if st, c := n.status("DELETE", "/v1/accounts/platform/tokens/"+feed.TokenID, n.operator, nil); st != http.StatusNoContent {
		t.Fatalf("revoke the feed's token: HTTP %d %s", st, c)
	}
	if st, _ := n.status("PUT", "/v1/subjects/"+victim+"/status", feed.Token, map[string]string{"status": "green"}); st != http.StatusUnauthorized {
		t.Errorf("the revoked feed token sets a status: HTTP %d, want 401", st)
	}
}
