package api_test

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"
)

// refusal is one access.refused audit entry.
type refusal struct{ actor, target, detail string }

// refusals are the access.refused audit entries of actor, oldest first.
func (tn *testNode) refusals(actor string) []refusal {
	tn.t.Helper()
	rows, err := tn.rawDB().Query(`SELECT actor, target, detail FROM audit WHERE action = 'access.refused' AND actor = ? ORDER BY seq`, actor)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer rows.Close()
	var out []refusal
	for rows.Next() {
		var r refusal
		var detail sql.NullString
		if err := rows.Scan(&r.actor, &r.target, &detail); err != nil {
			tn.t.Fatal(err)
		}
		r.detail = detail.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tn.t.Fatal(err)
	}
	return out
}

// failAudit makes every write of an audit entry of action fail, behind
// the node's back, until the returned undo is called.
func (tn *testNode) failAudit(action string) (undo func()) {
	tn.t.Helper()
	raw, err := sql.Open("sqlite", tn.cfg.DBPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.t.Cleanup(func() { raw.Close() })
	trigger := `CREATE TRIGGER fail_audit BEFORE INSERT ON audit WHEN NEW.action = '` + action + `'
		BEGIN SELECT RAISE(ABORT, 'injected'); END`
	if _, err := raw.Exec(trigger); err != nil {
		tn.t.Fatal(err)
	}
	return func() {
		tn.t.Helper()
		if _, err := raw.Exec(`DROP TRIGGER fail_audit`); err != nil {
			tn.t.Fatal(err)
		}
	}
}

// refuse calls method path with token and wants 403 forbidden.
func (tn *testNode) refuse(method, path, token string) {
	tn.t.Helper()
	if st, code := tn.status(method, path, token, "{}"); st != http.StatusForbidden || code != "forbidden" {
		tn.t.Fatalf("%s %s: HTTP %d %s, want 403 forbidden", method, path, st, code)
	}
}

// A checkpoint's scanner token is the one most likely to be stolen, and
// its refusals left no trace; an account's token looping on a refused
// route appended one fsynced audit entry per request. Now a scanner's
// refusal is audited under "scanner:<id>" with the route, at most once a
// minute per route: 50 refusals in a row write one entry and count 50
// in hcfed_access_refused_total{role="scanner"}; the first after the
// minute is written saying 49 were not. Another route is another entry.
func TestAScannerTokenLoopingOnARefusedRouteLeavesOneEntryAMinute(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	sc := n.registerScanner("gate 9")
	actor := "scanner:" + sc.ID
	const enrol = "POST /v1/subjects"
	for range 50 {
		n.refuse("POST", "/v1/subjects", sc.Token)
	}
	if got := n.refusals(actor); len(got) != 1 || got[0].target != enrol || got[0].detail != "" {
		t.Fatalf("after 50 refused enrolments within a minute, %s's access.refused entries are %+v, want one, %q, no detail", actor, got, enrol)
	}
	if m := n.metric(`hcfed_access_refused_total{role="scanner"}`); !strings.HasSuffix(m, " 50") {
		t.Errorf("after 50 refusals: %q, want 50", m)
	}

	n.clock.Add(time.Minute)
	n.refuse("POST", "/v1/subjects", sc.Token)
	got := n.refusals(actor)
	if len(got) != 2 || got[1].target != enrol || got[1].detail != `{"repeated":49}` {
		t.Fatalf("the first refusal after the minute: entries %+v, want a second saying repeated 49", got)
	}
	if m := n.metric(`hcfed_access_refused_total{role="scanner"}`); !strings.HasSuffix(m, " 51") {
		t.Errorf("after 51 refusals: %q, want 51", m)
	}

	// Within the new minute, another route is still written at once.
	n.refuse("GET", "/v1/scanners", sc.Token)
	if got := n.refusals(actor); len(got) != 3 || got[2].target != "GET /v1/scanners" {
		t.Errorf("a refused scanner list in the same minute: entries %+v, want a third, GET /v1/scanners", got)
	}
}

// A resident's wallet token refused another resident's record is
// audited under the resident's subject id (the pseudonym the audit log
// names them by in the target of their own actions), with the route; the
// entry holds no name, ID number or phone, nor the other's subject id.
func TestAResidentTokenRefusedIsAuditedWithoutPersonalData(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	mine, token := n.enrol(residentName, residentID)
	theirs, _ := n.enrol("李四", "110105194912310046")
	n.refuse("GET", "/v1/subjects/"+theirs, token)
	got := n.refusals("resident:" + mine)
	if len(got) != 1 || got[0].target != "GET /v1/subjects/:id" {
		t.Fatalf("a resident refused another's record: entries %+v, want one, GET /v1/subjects/:id", got)
	}
	row := got[0].actor + " " + got[0].target + " " + got[0].detail
	for _, personal := range []string{residentName, residentID, residentTel, "李四", "110105194912310046", theirs} {
		if strings.Contains(row, personal) {
			t.Errorf("the resident's access.refused entry %q holds %q", row, personal)
		}
	}
	if m := n.metric(`hcfed_access_refused_total{role="resident"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("after a resident's refusal: %q, want 1", m)
	}
}

// One resident's token looping on a refused route does not hide another
// resident's refusal of the same route: each resident is an actor of
// their own. When every resident was the one actor "resident", the
// second resident's refusal within the minute was only counted in the
// first one's "repeated".
func TestOneResidentsRefusalsDoNotHideAnothersRefusals(t *testing.T) {
	n := startNode(t, "440000")
	hostile, hostileToken := n.enrol(residentName, residentID)
	other, otherToken := n.enrol("李四", "110105194912310046")
	victim, _ := n.enrol("王五", "110105194912310062")
	for range 10 { // within the resident rate limit's burst: each is refused as forbidden
		n.refuse("GET", "/v1/subjects/"+victim, hostileToken)
	}
	n.refuse("GET", "/v1/subjects/"+victim, otherToken)
	if got := n.refusals("resident:" + hostile); len(got) != 1 {
		t.Errorf("the looping resident's entries %+v, want one a minute", got)
	}
	if got := n.refusals("resident:" + other); len(got) != 1 || got[0].target != "GET /v1/subjects/:id" || got[0].detail != "" {
		t.Errorf("the other resident's entries %+v, want their own, GET /v1/subjects/:id", got)
	}
	if m := n.metric(`hcfed_access_refused_total{role="resident"}`); !strings.HasSuffix(m, " 11") {
		t.Errorf("after 11 refusals of residents: %q, want 11", m)
	}
}

// A refusal whose entry cannot be written answers 500, as before the
// bound: the pair's next refusal, though within the minute, is written,
// and counts the one not written.
func TestARefusalThatCannotBeAuditedIsAnInternalErrorAndCountedInTheNext(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	undo := n.failAudit("access.refused")
	if st, code := n.status("POST", "/v1/subjects", n.scanner, "{}"); st != http.StatusInternalServerError || code != "internal" {
		t.Fatalf("a refusal that cannot be audited: HTTP %d %s, want 500 internal", st, code)
	}
	undo()
	n.refuse("POST", "/v1/subjects", n.scanner)
	var detail string
	if err := n.rawDB().QueryRow(`SELECT detail FROM audit WHERE action = 'access.refused' AND target = 'POST /v1/subjects'`).
		Scan(&detail); err != nil || detail != `{"repeated":1}` {
		t.Errorf("the refusal after the failed one: detail %q (%v), want repeated 1", detail, err)
	}
}
