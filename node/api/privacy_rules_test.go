package api_test

// One test per rule of the health-code privacy guidance (shared/seeds/000,
// "Suggestions on the protection of personal information of health code",
// rules 1-11, and the three reference suggestions after them), each on a
// real node: SQLite file, HTTP listener. docs/privacy.md maps every rule
// to its mechanism and to these tests.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// Rule 1: no personal information in the code in clear text or in a simple
// transcoding.
func TestRule01NoClearTextPersonalDataInCode(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	codes := []string{n.issue(id, resident).Code}
	var paper issued
	n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &paper)
	codes = append(codes, paper.Code)
	for _, code := range codes {
		var claims map[string]any
		if err := json.Unmarshal(decodeSegments(t, code)[1], &claims); err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(maps.Keys(claims))
		if strings.Join(keys, ",") != "ct,exp,iat,iss,jti,v" {
			t.Fatalf("clear claims %v, want exactly ct,exp,iat,iss,jti,v", keys)
		}
		// The header's kid, the code id and the ciphertext are base64url
		// text of random bytes, which spells "002X" in about one pair of
		// codes in 15,000: they are searched decoded, the encrypted part
		// as far as it decodes (testkit.ReadableParts). The code's text
		// only for what it cannot spell by chance.
		segs := decodeSegments(t, code)
		header, err := testkit.ReadableParts(segs[0], "kid")
		if err != nil {
			t.Fatal(err)
		}
		payload, err := testkit.ReadableParts(segs[1], "jti", "ct")
		if err != nil {
			t.Fatal(err)
		}
		views := append(append(header, payload...), segs[2])
		for _, secret := range []string{residentName, residentID, residentTel, "张*", "****002X", "002X", "green"} {
			for _, form := range transcodings(secret) {
				for _, v := range views {
					if bytes.Contains(v, []byte(form)) {
						t.Fatalf("the code holds %q as %q", secret, form)
					}
				}
				if len(form) >= chanceFreeLen && strings.Contains(code, form) {
					t.Fatalf("the code's text holds %q as %q", secret, form)
				}
			}
		}
	}
}

// Rule 2: informed, explicit consent before a code is made; the resident
// is told what is collected and what a scanner sees.
func TestRule02ConsentRequiredBeforeCode(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	before := countRows(t, n)
	for name, consent := range map[string]any{
		"not accepted": map[string]any{"notice_version": config.NoticeVersion, "accepted": false},
		"old notice":   map[string]any{"notice_version": "2019-01", "accepted": true},
		"no consent":   nil,
	} {
		body := enrolment(residentName, residentID)
		if consent == nil {
			delete(body, "consent")
		} else {
			body["consent"] = consent
		}
		if st, code := n.status("POST", "/v1/subjects", n.operator, body); st != 422 || code != "consent_required" {
			t.Errorf("%s: %d %s, want 422 consent_required", name, st, code)
		}
	}
	if after := countRows(t, n); after["subjects"] != before["subjects"] || after["tokens"] != before["tokens"] {
		t.Fatalf("refused enrolments left rows: %v → %v", before, after)
	}

	var notice node.Notice
	n.call("GET", "/v1/privacy", "", nil, &notice)
	if !slices.Equal(notice.Collected, []string{"name", "id_number", "phone"}) || len(notice.ScannerSees) == 0 ||
		len(notice.NeverInCode) == 0 || !slices.Contains(notice.ConsentFields, "accepted") {
		t.Fatalf("notice does not say what is collected and shown: %+v", notice)
	}
	// The short text a resident reads before consenting names all a
	// scanner is shown, the issuing province too (the scan page shows it).
	for lang, want := range map[string][]string{"en": {"status colour", "first character", "issuing province", "validity"},
		"zh-CN": {"健康状态颜色", "姓名首字", "签发省份", "有效期"}} {
		for _, w := range want {
			if !strings.Contains(notice.Text[lang], w) {
				t.Errorf("notice text (%s) does not say a scanner sees %q: %s", lang, w, notice.Text[lang])
			}
		}
	}
	id, resident := n.enrol(residentName, residentID)
	var rec record
	n.call("GET", "/v1/subjects/"+id, resident, nil, &rec)
	if rec.Consent.NoticeVersion != notice.Version || !slices.Equal(rec.Consent.Fields, notice.Collected) || rec.Consent.Purpose != notice.Purpose {
		t.Fatalf("consent record %+v does not match the notice consented to", rec.Consent)
	}
}

// Rule 3: only what the code needs is collected.
func TestRule03OnlyNecessaryDataIsCollected(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Collect = []string{"name", "id_number"} })
	before := countRows(t, n)
	if st, code := n.status("POST", "/v1/subjects", n.operator, enrolment(residentName, residentID)); st != 422 || code != "field_not_collected" {
		t.Fatalf("phone accepted though not collected: %d %s", st, code)
	}
	for _, extra := range []string{"address", "birthday", "travel_history", "photo"} {
		body := enrolment(residentName, residentID)
		delete(body, "phone")
		body[extra] = "x"
		if st, code := n.status("POST", "/v1/subjects", n.operator, body); st != 400 || code != "invalid" {
			t.Errorf("field %s: %d %s, want 400 invalid", extra, st, code)
		}
	}
	if after := countRows(t, n); after["subjects"] != before["subjects"] {
		t.Fatalf("refused enrolments stored subjects")
	}
	body := enrolment(residentName, residentID)
	delete(body, "phone")
	var e node.Enrolled
	if resp := n.call("POST", "/v1/subjects", n.operator, body, &e); resp.StatusCode != 201 {
		t.Fatalf("enrol: %d", resp.StatusCode)
	}
	var rec record
	n.call("GET", "/v1/subjects/"+e.ID, e.ResidentToken, nil, &rec)
	if len(rec.Held) != 2 || rec.Held["name"] != residentName || rec.Held["id_number"] != residentID {
		t.Fatalf("held %v, want exactly name and id_number", rec.Held)
	}
	var notice node.Notice
	n.call("GET", "/v1/privacy", "", nil, &notice)
	if !slices.Equal(notice.Collected, []string{"name", "id_number"}) {
		t.Fatalf("notice says %v is collected", notice.Collected)
	}
}

// Rule 4: the interface explains how the code works and where it may be
// used, to avoid misuse.
func TestRule04NoticeExplainsMechanismAndScopeOfUse(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	var notice node.Notice
	if resp := n.call("GET", "/v1/privacy", "", nil, &notice); resp.StatusCode != 200 {
		t.Fatalf("privacy notice without a token: %d", resp.StatusCode)
	}
	for _, lang := range []string{"zh-CN", "en"} {
		if len(notice.Mechanism[lang]) < 100 || len(notice.Text[lang]) < 100 {
			t.Errorf("notice lacks a %s explanation", lang)
		}
	}
	if len(notice.UseScope) < 2 || !strings.Contains(strings.Join(notice.UseScope, " "), "not for") {
		t.Errorf("use scope does not say where the code may not be used: %v", notice.UseScope)
	}
	if notice.Purpose == "" || notice.CodeValidity["phone"] != "24h0m0s" || notice.CodeValidity["paper"] != "168h0m0s" ||
		notice.Retention["personal_data"] == "" || len(notice.YourRights) < 4 {
		t.Errorf("notice incomplete: %+v", notice)
	}
}

// Rule 5: encryption, authentication and access control keep code contents
// from unauthorized scanning apps, and what is shown is de-identified.
func TestRule05UnauthorizedScannersLearnOnlyIssuerAndValidity(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	for who, tok := range map[string]string{"no token": "", "resident": resident, "operator": n.operator} {
		st, _ := n.status("POST", "/v1/verify", tok, map[string]string{"code": c.Code})
		if want := map[bool]int{true: 401, false: 403}[tok == ""]; st != want {
			t.Errorf("%s verifies: %d, want %d", who, st, want)
		}
	}
	// An app that reads the QR itself learns only the clear claims; the
	// status and masked name are a JWE it cannot open.
	var claims struct {
		Iss, Jti, Ct string
		Iat, Exp     int64
	}
	if err := json.Unmarshal(decodeSegments(t, c.Code)[1], &claims); err != nil || claims.Iss != "440000" || claims.Exp == 0 {
		t.Fatalf("clear claims %+v, %v", claims, err)
	}
	if parts := strings.Split(claims.Ct, "."); len(parts) != 5 {
		t.Fatalf("ct is not a compact JWE: %d parts", len(parts))
	}
	// A registered scanner is shown the colour and a masked name, nothing else.
	var shown map[string]any
	n.call("POST", "/v1/verify", n.scanner, map[string]string{"code": c.Code}, &shown)
	keys := slices.Sorted(maps.Keys(shown))
	if strings.Join(keys, ",") != "exp,issuer,masked_name,reason,status,valid" || shown["masked_name"] != "张*" {
		t.Fatalf("scanner was shown %v", shown)
	}
}

// Rule 6: nobody discloses a resident's code or data without them: only the
// resident (and the operator) reach them — the code's QR, the printed
// page of a paper code, a new code, the record, its verifications,
// appeals and lookups — and nothing public holds them.
func TestRule06CodeIsNotDisclosedWithoutTheResident(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	_, other := n.enrol(otherName, otherID)
	c := n.issue(id, resident)
	n.verify(c.Code)
	var paper issued
	n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &paper)
	if paper.JTI == "" {
		t.Fatal("no paper code issued: its page is not tried")
	}
	for _, r := range []struct{ method, path string }{
		{"GET", c.QRURL}, {"GET", "/v1/codes/" + paper.JTI + "/paper.png"}, {"POST", "/v1/subjects/" + id + "/codes"},
		{"GET", "/v1/subjects/" + id}, {"GET", "/v1/subjects/" + id + "/verifications"},
		{"GET", "/v1/subjects/" + id + "/appeals"}, {"GET", "/v1/subjects/" + id + "/lookups"},
	} {
		for who, tok := range map[string]string{"another resident": other, "a scanner": n.scanner, "nobody": ""} {
			st, _ := n.status(r.method, r.path, tok, map[string]any{})
			want := map[bool]int{true: 401, false: 403}[tok == ""]
			if r.path == c.QRURL && tok == other {
				want = 404 // as for an unknown code: TestQRImageAnswersAnotherResidentsCodeAsAnUnknownOne
			}
			if st != want {
				t.Errorf("%s: %s %s: %d, want %d", who, r.method, r.path, st, want)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/.well-known/hcfed/keyset",
		"/.well-known/hcfed/trustlist", "/v1/privacy", "/v1/federation"} {
		resp := n.call("GET", path, map[bool]string{true: n.metricsToken}[path == "/metrics"], nil, nil)
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		for _, secret := range []string{residentName, residentID, residentTel, "张*", id, c.JTI} {
			if strings.Contains(b.String(), secret) {
				t.Errorf("public %s discloses %q", path, secret)
			}
		}
	}
}

// Rule 7: a scanner can view, but not save or export, what it is shown.
func TestRule07ScannerCanNeitherStoreNorExport(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	resp := n.call("POST", "/v1/verify", n.scanner, map[string]string{"code": c.Code}, nil)
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("verify may be cached: %v", resp.Header)
	}
	var pa issued
	n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &pa)
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/subjects/" + id}, {"GET", "/v1/subjects/" + id + "/verifications"}, {"GET", "/v1/subjects/" + id + "/appeals"},
		{"GET", "/v1/appeals"}, {"POST", "/v1/appeals"}, {"PUT", "/v1/appeals/ap_x"}, {"GET", c.QRURL},
		{"GET", "/v1/codes/" + pa.JTI + "/paper.png"}, {"GET", "/v1/scanners"}, {"GET", "/v1/keys"},
	} {
		if st, code := n.status(r.method, r.path, n.scanner, `{}`); st != 403 || code != "forbidden" {
			t.Errorf("scanner %s %s: %d %s, want 403", r.method, r.path, st, code)
		}
	}
	for _, path := range []string{"/v1/scans", "/v1/verify", "/v1/verifications", "/v1/verify/history", "/v1/scanners/me/scans"} {
		if st, _ := n.status("GET", path, n.scanner, nil); st != 404 && st != 405 {
			t.Errorf("scanner GET %s: %d, want no such read (404/405)", path, st)
		}
	}
}

// Rule 7 (and 5): a scanner over its rate limit is refused with 429, and the
// refused requests leave no trace: neither audit entries nor verification
// metrics count them.
func TestRule07RateLimitStopsBulkScanningAndRecordsNothing(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Limits.ScannerRate, c.Limits.ScannerBurst = 1, 3 })
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	for i := range 3 {
		if v := n.verify(c.Code); !v.Valid {
			t.Fatalf("verification %d within the burst: %+v", i, v)
		}
	}
	for i := range 5 { // the test clock stands still: no token refills
		var e apiError
		resp := n.call("POST", "/v1/verify", n.scanner, map[string]string{"code": c.Code}, &e)
		if resp.StatusCode != 429 || e.Error.Code != "rate_limited" {
			t.Fatalf("verification %d beyond the burst: %d %+v", i, resp.StatusCode, e)
		}
	}
	if m := n.metric(`hcfed_verifications_total{issuer="440000",reason="ok"}`); !strings.HasSuffix(m, " 3") {
		t.Fatalf("verification metric %q, want 3", m)
	}
	waitFor(t, 5*time.Second, func() error { // one scanner's repeats are listed once
		if got := len(n.verifications(id, resident)); got != 1 {
			return fmt.Errorf("%d verifications listed, want 1", got)
		}
		return nil
	})
	n.stop()
	if got := n.auditCount("code.verify"); got != 3 {
		t.Fatalf("%d verifications audited, want the 3 allowed", got)
	}
}

// Rule 8: codes expire; a resident's data is deleted when they ask or when
// its retention ends.
func TestRule08CodesExpireAndDeletedDataIsGone(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Trust.StaleLimit = 0 })
	id, resident := n.enrol(residentName, residentID)
	phone := n.issue(id, resident)
	var paper issued
	n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &paper)
	now := n.clock.Now().Unix()
	if d := phone.Exp - now; d < 24*3600-5 || d > 24*3600 {
		t.Errorf("phone code valid for %ds, want 24h", d)
	}
	if d := paper.Exp - now; d < 7*24*3600-5 || d > 7*24*3600 {
		t.Errorf("paper code valid for %ds, want 7 days", d)
	}
	n.clock.Add(25 * time.Hour)
	if v := n.verify(phone.Code); v.Reason != "expired" {
		t.Fatalf("phone code after 25h: %+v", v)
	}

	if st, _ := n.status("DELETE", "/v1/subjects/"+id, resident, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if v := n.verify(paper.Code); v.Reason != "revoked" {
		t.Fatalf("paper code of a deleted resident: %+v", v)
	}
	if st, _ := n.status("GET", "/v1/subjects/"+id, n.operator, nil); st != 404 {
		t.Fatalf("deleted record: %d", st)
	}

	other, _ := n.enrol(otherName, otherID)
	n.clock.Add(n.cfg.Privacy.Retention.Subjects + time.Hour)
	r, err := n.d.Node.Retain(context.Background())
	if err != nil || r.Subjects != 1 {
		t.Fatalf("retention pass: %+v %v", r, err)
	}
	// The operator token of 90 days ago has expired (tokens.operator_lifetime).
	fresh, err := n.d.Node.BootstrapAdmin(context.Background(), daemon.DefaultAdmin, "after retention")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := n.status("GET", "/v1/subjects/"+other, fresh.Token, nil); st != 404 {
		t.Fatalf("record past its retention: %d", st)
	}
}

// Rule 8: crypto-shredding holds against backups. A copy of node.db taken
// before a deletion, opened later with the live KEK and the live key store,
// no longer yields the deleted resident's data — the key was never in
// node.db — while another resident's data still opens.
func TestRule08CryptoShreddingHoldsAgainstBackups(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	gone, resident := n.enrol(residentName, residentID)
	kept, _ := n.enrol(otherName, otherID)
	n.issue(gone, resident)
	n.stop()
	backup := copyFiles(t, n.cfg.DBPath(), t.TempDir())
	n.start()
	if st, _ := n.status("DELETE", "/v1/subjects/"+gone, resident, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}

	ctx := context.Background()
	kek, err := seal.LoadKEK(n.cfg.KEKPath())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var ct []byte
	err = raw.QueryRow(`SELECT name_ct FROM subjects WHERE id = ?`, gone).Scan(&ct)
	raw.Close()
	if err != nil || len(ct) == 0 {
		t.Fatalf("the backup does not hold the deleted resident's ciphertext (%v): this test checks nothing", err)
	}
	db, err := store.OpenWithKeys(ctx, backup, store.KeysPath(n.cfg.DBPath()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	restored, err := node.New(ctx, node.Config{DB: db, KEK: kek, Settings: n.cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	as := func(id string) node.Principal { return node.Principal{Role: node.RoleResident, SubjectID: id} }
	if r, err := restored.SubjectRecord(ctx, as(gone), gone); node.ErrorCodeOf(err) != node.ENotFound {
		t.Fatalf("the backup still opens the deleted resident's data: %+v, %v", r, err)
	}
	r, err := restored.SubjectRecord(ctx, as(kept), kept)
	if err != nil || r.Held["name"] != otherName || r.Held["id_number"] != otherID {
		t.Fatalf("another resident's data from the backup: %+v, %v", r, err)
	}
}

// Rule 9: a resident who disputes their status appeals; an operator
// resolves it (changing the status revokes their codes); the resident sees
// the outcome. Filing and resolution are audited without their text.
func TestRule09ResidentAppealsAndOperatorResolves(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	otherSubject, other := n.enrol(otherName, otherID)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red"}, nil)
	red := n.issue(id, resident)
	const message, note = "我没有去过风险地区，张三丰，请核实", "核实后为误判，已改为黄码观察"

	if st, code := n.status("POST", "/v1/appeals", resident, map[string]string{"message": strings.Repeat("错", 501)}); st != 400 || code != "invalid" {
		t.Fatalf("501-character appeal: %d %s", st, code)
	}
	if st, _ := n.status("POST", "/v1/appeals", n.scanner, map[string]string{"message": "x"}); st != 403 {
		t.Fatalf("scanner files an appeal: %d", st)
	}
	if st, _ := n.status("POST", "/v1/appeals", other, map[string]string{"message": "x", "subject_id": id}); st != 403 {
		t.Fatalf("a resident appeals for another: %d", st)
	}
	var filed appeal
	if resp := n.call("POST", "/v1/appeals", resident, map[string]string{"message": message}, &filed); resp.StatusCode != 201 || filed.Status != "open" {
		t.Fatalf("file: %d %+v", resp.StatusCode, filed)
	}
	var open struct{ Appeals []appeal }
	n.call("GET", "/v1/appeals", n.operator, nil, &open)
	if len(open.Appeals) != 1 || open.Appeals[0].Message != message || open.Appeals[0].SubjectStatus != "red" {
		t.Fatalf("operator's open appeals: %+v", open)
	}
	if st, _ := n.status("GET", "/v1/appeals", resident, nil); st != 403 {
		t.Fatalf("a resident lists all appeals: %d", st)
	}
	if st, code := n.status("PUT", "/v1/appeals/"+filed.ID, n.operator, map[string]string{"outcome": "rejected", "status": "green"}); st != 400 || code != "invalid" {
		t.Fatalf("rejection that changes status: %d %s", st, code)
	}

	var resolved appeal
	n.call("PUT", "/v1/appeals/"+filed.ID, n.operator, map[string]string{"outcome": "upheld", "note": note, "status": "yellow"}, &resolved)
	if resolved.Status != "upheld" || resolved.AppliedStatus != "yellow" || resolved.ResolvedAt == nil {
		t.Fatalf("resolved: %+v", resolved)
	}
	if v := n.verify(red.Code); v.Reason != "revoked" {
		t.Fatalf("code from before the upheld appeal: %+v", v)
	}
	if v := n.verify(n.issue(id, resident).Code); v.Status != "yellow" {
		t.Fatalf("code after the upheld appeal: %+v", v)
	}
	if st, code := n.status("PUT", "/v1/appeals/"+filed.ID, n.operator, map[string]string{"outcome": "rejected"}); st != 409 || code != "conflict" {
		t.Fatalf("resolving twice: %d %s", st, code)
	}
	var mine struct{ Appeals []appeal }
	n.call("GET", "/v1/subjects/"+id+"/appeals", resident, nil, &mine)
	if len(mine.Appeals) != 1 || mine.Appeals[0].Note != note || mine.Appeals[0].Message != message || mine.Appeals[0].Status != "upheld" {
		t.Fatalf("the resident's view of their appeals: %+v", mine)
	}

	// At a service point, an operator files for a resident without a phone.
	if st, code := n.status("POST", "/v1/appeals", n.operator, map[string]string{"message": "x"}); st != 400 || code != "invalid" {
		t.Fatalf("operator filing without subject_id: %d %s", st, code)
	}
	var forOther appeal
	n.call("POST", "/v1/appeals", n.operator, map[string]string{"message": "代为申诉", "subject_id": otherSubject}, &forOther)
	if forOther.SubjectID != otherSubject || forOther.Status != "open" {
		t.Fatalf("operator filing for a resident: %+v", forOther)
	}

	n.stop()
	rows, err := n.rawDB().Query(`SELECT action, target, detail FROM audit WHERE action LIKE 'appeal.%' AND target = ? ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var actions []string
	for rows.Next() {
		var action, target, detail string
		rows.Scan(&action, &target, &detail)
		actions = append(actions, action)
		if target != id || strings.Contains(detail, "张") || strings.Contains(detail, "核实") {
			t.Errorf("audit %s: target %q detail %s", action, target, detail)
		}
	}
	if strings.Join(actions, ",") != "appeal.file,appeal.resolve" {
		t.Fatalf("audited %v, want the filing and the resolution", actions)
	}
}

// Rule 9: people without phones get a printed paper code at a service point.
func TestRule09PaperCodeForPeopleWithoutPhones(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	var pa issued
	if resp := n.call("POST", "/v1/subjects/"+id+"/codes", n.operator, map[string]bool{"paper": true}, &pa); resp.StatusCode != 201 {
		t.Fatalf("paper code: %d", resp.StatusCode)
	}
	path := "/v1/codes/" + pa.JTI + "/paper.png"
	resp := n.call("GET", path, n.operator, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("paper page: %d %v", resp.StatusCode, resp.Header)
	}
	text, img := scanQR(t, resp.Body)
	if text != pa.Code {
		t.Fatalf("the printed QR holds %.40q, want the code", text)
	}
	if b := img.Bounds(); b.Dx() != 620 || b.Dy() != 874 {
		t.Fatalf("page is %v, want A6 at 150 dpi (620×874)", b)
	}
	if r, g, b, _ := img.At(4, 4).RGBA(); g>>8 < 0x80 || r>>8 > 0x40 || b>>8 > 0x80 {
		t.Fatalf("status band colour %v, want green", color.RGBAModel.Convert(img.At(4, 4)))
	}
	if v := n.verify(text); !v.Valid || v.Status != "green" {
		t.Fatalf("the printed code: %+v", v)
	}
	phone := n.issue(id, resident)
	for _, r := range []struct {
		path, token string
		want        int
	}{{path, resident, 403}, {path, n.scanner, 403}, {"/v1/codes/" + phone.JTI + "/paper.png", n.operator, 404}} {
		if st, _ := n.status("GET", r.path, r.token, nil); st != r.want {
			t.Errorf("GET %s: %d, want %d", r.path, st, r.want)
		}
	}
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "red"}, nil)
	if st, _ := n.status("GET", path, n.operator, nil); st != 404 {
		t.Fatalf("printing a revoked paper code: %d", st)
	}
}

// Rule 10 is organisational (prefer the general system); the mechanism
// behind it is a common, standard format: the code is a compact JWS (ES256)
// that a generic JOSE library verifies against the node's published JWKS.
func TestRule10CodeUsesTheCommonFederationFormat(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	c := n.issue(id, resident)
	var jwks jose.JSONWebKeySet
	n.call("GET", "/.well-known/jwks.json", "", nil, &jwks)
	jws, err := jose.ParseSigned(strings.TrimPrefix(c.Code, "HCF1:"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	keys := jwks.Key(h.KeyID)
	if len(keys) != 1 || h.ExtraHeaders[jose.HeaderType] != "hcfed-code+jwt" {
		t.Fatalf("kid %q, typ %v: not in the published JWKS", h.KeyID, h.ExtraHeaders[jose.HeaderType])
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Fatalf("a generic JOSE library does not verify the code: %v", err)
	}
}

// Rule 11: service providers must not keep codes or personal data: no
// endpoint lists or exports subjects, codes, scans or the audit log, and an
// operator reads one record at a time, masked.
func TestRule11NoEndpointListsOrExportsPersonalData(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	id, resident := n.enrol(residentName, residentID)
	n.verify(n.issue(id, resident).Code)
	for _, path := range []string{"/v1/subjects", "/v1/subjects/export", "/v1/subjects.csv", "/v1/subjects/all", "/v1/codes",
		"/v1/codes/export", "/v1/scans", "/v1/verifications", "/v1/audit", "/v1/audit/export", "/v1/export", "/v1/dump",
		"/v1/backup", "/v1/consents", "/v1/tokens", "/v1/residents", "/v1/admin/export", "/v1/db", "/v1/appeals/export",
		"/export", "/dump", "/backup", "/admin", "/debug/pprof/", "/debug/vars", "/node.db", "/keys.db"} {
		for who, tok := range map[string]string{"operator": n.operator, "resident": resident, "scanner": n.scanner} {
			if st, _ := n.status("GET", path, tok, nil); st != 404 && st != 403 && st != 405 {
				t.Errorf("%s GET %s: %d, want no such read (403/404/405)", who, path, st)
			}
		}
	}
	var rec record
	n.call("GET", "/v1/subjects/"+id, n.operator, nil, &rec)
	if rec.Held["name"] != "" || rec.Held["id_number"] != "" || rec.Held["masked_name"] != "张*" {
		t.Fatalf("an operator reads a record unmasked: %v", rec.Held)
	}
}

// Suggestion 1 (standards, published in time) is for the state; the node's
// part is to publish what it follows, unauthenticated and versioned: the
// privacy notice consent refers to, and the keys its codes verify with.
func TestSuggestion1StandardDocumentsArePublished(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	for _, path := range []string{"/v1/privacy", "/.well-known/jwks.json", "/.well-known/hcfed/keyset", "/v1/federation"} {
		if st, _ := n.status("GET", path, "", nil); st != 200 {
			t.Errorf("GET %s without a token: %d", path, st)
		}
	}
	var notice node.Notice
	n.call("GET", "/v1/privacy", "", nil, &notice)
	if notice.Version != n.cfg.Privacy.NoticeVersion || notice.Province != "440000" {
		t.Fatalf("notice version %q province %q", notice.Version, notice.Province)
	}
}

// Suggestion 2 (and the seed's "third" point): the resident's right to
// know — what is held about them, and when and at what kind of place their
// codes were verified.
func TestSuggestion2RightToKnowWhereCodesWereVerified(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	ctx := context.Background()
	station, err := n.d.Node.AddScanner(ctx, node.Principal{Role: node.RoleOperator}, "platform 3", "station")
	if err != nil {
		t.Fatal(err)
	}
	id, resident := n.enrol(residentName, residentID)
	otherID, other := n.enrol(otherName, otherID)
	c := n.issue(id, resident)
	n.verify(c.Code) // at the checkpoint
	var v verification
	n.call("POST", "/v1/verify", station.Token, map[string]string{"code": c.Code}, &v)
	n.call("PUT", "/v1/subjects/"+id+"/status", n.operator, map[string]string{"status": "yellow"}, nil)
	n.verify(c.Code) // revoked now
	n.verify(n.issue(otherID, other).Code)

	var got []verificationRecord
	waitFor(t, 5*time.Second, func() error {
		if got = n.verifications(id, resident); len(got) != 3 {
			return fmt.Errorf("%d verifications listed, want 3", len(got))
		}
		return nil
	})
	want := []struct{ place, reason string }{{"checkpoint", "revoked"}, {"station", "ok"}, {"checkpoint", "ok"}}
	for i, w := range want {
		g := got[i]
		if g.Place != w.place || g.Reason != w.reason || g.Valid != (w.reason == "ok") || g.Province != "440000" || g.JTI != c.JTI || g.Time.IsZero() {
			t.Errorf("verification %d: %+v, want %s at a %s", i, g, w.reason, w.place)
		}
	}
	if op := n.verifications(id, n.operator); len(op) != 3 {
		t.Errorf("operator sees %d verifications", len(op))
	}
	if st, _ := n.status("GET", "/v1/subjects/"+id+"/verifications", other, nil); st != 403 {
		t.Errorf("another resident reads them: %d", st)
	}
	var rec record
	n.call("GET", "/v1/subjects/"+id, resident, nil, &rec)
	if rec.Held["name"] != residentName || rec.Held["id_number"] != residentID || rec.Held["phone"] != residentTel || rec.Status != "yellow" {
		t.Fatalf("the resident's own record: %+v", rec)
	}
}

// Suggestion 3: after the epidemic, a deletion mechanism: sunset deletes
// every personal record and key, keeps anonymous counts and the audit log,
// and the node does not start again.
func TestSuggestion3SunsetDeletesPersonalDataKeepsCounts(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	for _, p := range []struct{ name, id string }{{residentName, residentID}, {otherName, otherID}} {
		id, resident := n.enrol(p.name, p.id)
		n.issue(id, resident)
	}
	n.stop()
	ctx := context.Background()
	db, err := store.Open(ctx, n.cfg.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	// A day's key of lookups' legal bases, whose texts the audit log it
	// keeps holds sealed (node/lookupbasis.go): it goes too.
	const basisKey = "lookup.basis_key.2026-12-01"
	if err := db.SetMeta(ctx, basisKey, "sealed"); err != nil {
		t.Fatal(err)
	}
	counts, err := node.Sunset(ctx, db, "operator", time.Now())
	if err != nil || counts.Subjects != 2 || counts.Codes != 2 {
		t.Fatalf("sunset: %+v %v", counts, err)
	}
	if _, err := db.GetMeta(ctx, basisKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the key of a day's legal bases after sunset: %v", err)
	}
	if left, _ := db.Counts(ctx); left != (store.SunsetCounts{}) {
		t.Fatalf("left after sunset: %+v", left)
	}
	if v, err := db.GetMeta(ctx, "sunset.subjects"); v != "2" || err != nil {
		t.Fatalf("anonymous count: %q %v", v, err)
	}
	// A second sunset is refused, and keeps the counts of the first.
	if _, err := node.Sunset(ctx, db, "operator", time.Now()); node.ErrorCodeOf(err) != node.EConflict {
		t.Fatalf("a second sunset: %v, want conflict", err)
	}
	if v, err := db.GetMeta(ctx, "sunset.subjects"); v != "2" || err != nil {
		t.Fatalf("anonymous count after a second sunset: %q %v", v, err)
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit log after sunset: %v", err)
	}
	db.Close()
	keys, err := sql.Open("sqlite", "file:"+store.KeysPath(n.cfg.DBPath())+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	var left int
	if err := keys.QueryRow(`SELECT count(*) FROM subject_keys`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("data keys after sunset: %d %v", left, err)
	}
	d, err := daemon.Start(ctx, n.cfg, daemon.Options{})
	if err == nil {
		d.Close()
		t.Fatal("a sunset node started again")
	}
	if !strings.Contains(err.Error(), "sunset") {
		t.Fatalf("start after sunset: %v", err)
	}
}

// docs/privacy.md names the tests that prove each rule; every name must be
// a test that exists, so the map cannot silently go stale.
func TestPrivacyDocNamesOnlyExistingTests(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/privacy.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources bytes.Buffer
	err = filepath.WalkDir("../..", func(path string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			sources.Write(b)
			return err
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllSubmatch(doc, -1)
	if len(named) < 30 {
		t.Fatalf("docs/privacy.md names %d tests; the map looks truncated", len(named))
	}
	for _, m := range named {
		if !bytes.Contains(sources.Bytes(), []byte("func "+string(m[1])+"(")) {
			t.Errorf("docs/privacy.md names %s, which is no test", m[1])
		}
	}
	for i := 1; i <= 11; i++ {
		if !bytes.Contains(doc, []byte(fmt.Sprintf("### Rule %d ", i))) {
			t.Errorf("docs/privacy.md has no section for rule %d", i)
		}
	}
}

// Rule 7 again: no-store is on every answer under /v1, not only the
// routes behind a token: the public notice and federation view, an
// unknown route, and a body refused for its size before any handler.
func TestEveryAnswerUnderV1ForbidsCaching(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	big := strings.Repeat("x", int(n.cfg.Limits.BodyBytes)+1)
	for _, r := range []struct {
		method, path string
		body         string
		status       int
	}{
		{"GET", "/v1/privacy", "", 200},
		{"GET", "/v1/federation", "", 200},
		{"GET", "/v1/no-such-route", "", 401}, // the group asks for a token first
		{"POST", "/v1/verify", big, 413},
	} {
		req, err := http.NewRequest(r.method, n.d.URL+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.status || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Errorf("%s %s: %d, Cache-Control %q, Pragma %q; want %d with no-store, no-cache", r.method, r.path,
				resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"), r.status)
		}
	}
}
