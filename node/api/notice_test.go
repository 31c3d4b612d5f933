package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// The notice promised "You may appeal or delete your record at any time";
// it now says what the node does (deletion while green; while yellow or
// red the health authority keeps the record, and the resident may
// appeal), in both languages, under a new version.
func TestNoticeSaysDeletionWaitsWhileTheStatusIsYellowOrRed(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	var notice struct {
		Version    string            `json:"version"`
		YourRights []string          `json:"your_rights"`
		Text       map[string]string `json:"text"`
	}
	n.call("GET", "/v1/privacy", "", nil, &notice)
	if notice.Version != config.NoticeVersion || notice.Version == "2026-11" {
		t.Errorf("notice version %q, want %q", notice.Version, config.NoticeVersion)
	}
	for lang, says := range map[string][]string{"en": {"while your status is green", "yellow or red", "keeps it"}, "zh-CN": {"绿码", "黄码或红码期间", "保留"}} {
		for _, s := range says {
			if !strings.Contains(notice.Text[lang], s) {
				t.Errorf("the %s notice does not say %q: %s", lang, s, notice.Text[lang])
			}
		}
		if strings.Contains(notice.Text[lang], "delete your record at any time;") || strings.Contains(notice.Text[lang], "随时申诉或删除") {
			t.Errorf("the %s notice still promises deletion at any time: %s", lang, notice.Text[lang])
		}
	}
	right := rightNaming(notice.YourRights, "DELETE /v1/subjects")
	if !strings.Contains(right, "while your status is green") || !strings.Contains(right, "appeal") {
		t.Errorf("your_rights on deletion: %q", right)
	}
}

// A node whose config still names the earlier build's notice version
// (hcnode init writes it into hcnode.yaml) serves this build's notice under
// this build's version, so that one version never names two texts, and
// says so in its log. Residents who consented to an earlier notice keep
// their consent: their record shows the version they accepted, and they
// get codes and can delete as before.
func TestANoticeVersionChangeKeepsEarlierConsentsAndAnOldConfigServesTheNewVersion(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.NoticeVersion = "2025-03" })
	id, resident := n.enrolUnderNotice("2025-03", residentID)

	// Each earlier build's default, as its init wrote it into hcnode.yaml.
	for _, old := range slices.Sorted(maps.Keys(config.SupersededNotices)) {
		n.cfg.Privacy.NoticeVersion = old
		logged := len(n.logs.String())
		n.restart()
		var notice struct{ Version string }
		n.call("GET", "/v1/privacy", "", nil, &notice)
		if notice.Version != config.NoticeVersion {
			t.Errorf("a config naming %s serves notice %q, want this build's %q", old, notice.Version, config.NoticeVersion)
		}
		if !strings.Contains(n.logs.String()[logged:], "privacy.notice_version names the privacy notice of an earlier build") {
			t.Errorf("a node configured with %s does not say that it serves another notice version than configured", old)
		}
		stale := enrolment(residentName, idNumberN(1))
		stale["consent"] = map[string]any{"notice_version": old, "accepted": true}
		if st, code := n.status("POST", "/v1/subjects", n.operator, stale); st != http.StatusUnprocessableEntity || code != "consent_required" {
			t.Errorf("consent to the replaced notice %s at enrolment: %d %s, want 422 consent_required", old, st, code)
		}
	}
	var rec struct {
		Consent struct {
			NoticeVersion string `json:"notice_version"`
		}
	}
	if resp := n.call("GET", "/v1/subjects/"+id, resident, nil, &rec); resp.StatusCode != http.StatusOK || rec.Consent.NoticeVersion != "2025-03" {
		t.Fatalf("the earlier resident's record: %d %+v, want their consent to 2025-03", resp.StatusCode, rec)
	}
	if v := n.verify(n.issue(id, resident).Code); !v.Valid {
		t.Errorf("the earlier resident's new code: %+v", v)
	}
	if st, code := n.status("DELETE", "/v1/subjects/"+id, resident, nil); st != http.StatusNoContent {
		t.Errorf("the earlier, green resident deletes themselves: %d %s", st, code)
	}
}

// A notice version names one text. Once the node has served a notice
// version of the operator's own, a change of the config that changes the
// text (here privacy.purpose) under the same version is refused at start,
// with a sentence saying what changed and what to do; under a new version
// the node starts, and the residents who consented to the earlier one keep
// their consent, whose record holds the SHA-256 of the text they were
// served.
func TestANoticeVersionServedKeepsItsTextAcrossRestarts(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.NoticeVersion = "gd-2026-01" })
	var wg sync.WaitGroup
	bodies := make([][]byte, 4) // first served to several readers at once
	for i := range bodies {
		wg.Go(func() {
			resp, err := http.Get(n.d.URL + "/v1/privacy")
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				bodies[i], _ = io.ReadAll(resp.Body)
			}
		})
	}
	wg.Wait()
	for _, b := range bodies {
		if b == nil || !bytes.Equal(b, bodies[0]) {
			t.Fatalf("GET /v1/privacy served %q and %q", bodies[0], b)
		}
	}
	servedSum := sha256.Sum256(bytes.TrimSuffix(bodies[0], []byte("\n")))
	id, resident := n.enrolUnderNotice("gd-2026-01", residentID)
	consentOf := func(id, token string) (version, sum string) {
		t.Helper()
		var rec struct {
			Consent struct {
				NoticeVersion string `json:"notice_version"`
				NoticeSHA256  string `json:"notice_sha256"`
			}
		}
		if resp := n.call("GET", "/v1/subjects/"+id, token, nil, &rec); resp.StatusCode != http.StatusOK {
			t.Fatalf("the record of %s: %d", id, resp.StatusCode)
		}
		return rec.Consent.NoticeVersion, rec.Consent.NoticeSHA256
	}
	if v, sum := consentOf(id, resident); v != "gd-2026-01" || sum != hex.EncodeToString(servedSum[:]) {
		t.Fatalf("the consent records notice %s with text %s, want gd-2026-01 with the SHA-256 of the text served, %x", v, sum, servedSum)
	}

	n.stop()
	n.cfg.Privacy.Purpose = "public-health-research"
	err := n.tryStart()
	var changed *node.NoticeChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("a start serving another text under notice gd-2026-01: %v, want a NoticeChangedError", err)
	}
	for _, says := range []string{"privacy.notice_version gd-2026-01 names the privacy notice this node has served since ",
		"(its purpose, text, use_scope changed)", "Set a new privacy.notice_version for the new text",
		"residents who consented to gd-2026-01 keep their consent"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("the refusal does not say %q: %v", says, err)
		}
	}

	n.cfg.Privacy.NoticeVersion = "gd-2026-02"
	n.start()
	var notice struct{ Version, Purpose string }
	if n.call("GET", "/v1/privacy", "", nil, &notice); notice.Version != "gd-2026-02" || notice.Purpose != "public-health-research" {
		t.Fatalf("the notice under the new version: %+v", notice)
	}
	if v, sum := consentOf(id, resident); v != "gd-2026-01" || sum != hex.EncodeToString(servedSum[:]) {
		t.Errorf("after the new version the earlier consent records notice %s with text %s, want gd-2026-01 with %x", v, sum, servedSum)
	}
	if v := n.verify(n.issue(id, resident).Code); !v.Valid {
		t.Errorf("the earlier resident's new code: %+v", v)
	}
	stale := enrolment(residentName, idNumberN(1))
	stale["consent"] = map[string]any{"notice_version": "gd-2026-01", "accepted": true}
	if st, code := n.status("POST", "/v1/subjects", n.operator, stale); st != http.StatusUnprocessableEntity || code != "consent_required" {
		t.Errorf("consent to the earlier notice at enrolment: %d %s, want 422 consent_required", st, code)
	}
	if _, sum := consentOf(n.enrolUnderNotice("gd-2026-02", idNumberN(1))); sum == "" || sum == hex.EncodeToString(servedSum[:]) {
		t.Errorf("the consent to gd-2026-02 records text %q, want the new text's SHA-256", sum)
	}
	n.restart() // the same text under the same version starts
}

// A version never served (no notice read, no consent taken) records no
// text: the operator may still change the config under it, as after a
// first start to try the node.
func TestANoticeVersionNeverServedMayStillChange(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.NoticeVersion = "gd-2026-01" })
	n.stop()
	n.cfg.Privacy.Purpose = "public-health-research"
	n.start()
	var notice struct{ Version, Purpose string }
	if n.call("GET", "/v1/privacy", "", nil, &notice); notice.Version != "gd-2026-01" || notice.Purpose != "public-health-research" {
		t.Fatalf("the notice: %+v", notice)
	}
	n.stop()
	n.cfg.Privacy.Purpose = "epidemic-prevention"
	if err := n.tryStart(); err == nil || !strings.Contains(err.Error(), "(its purpose, text, use_scope changed)") {
		t.Fatalf("a start after the notice was served under the other purpose: %v", err)
	}
}

// enrolUnderNotice enrols a resident with ID number idNumber who consented
// to notice version v, and returns their id and resident token.
func (tn *testNode) enrolUnderNotice(v, idNumber string) (id, token string) {
	tn.t.Helper()
	var e map[string]any
	body := enrolment(residentName, idNumber)
	body["consent"] = map[string]any{"notice_version": v, "accepted": true}
	if resp := tn.call("POST", "/v1/subjects", tn.operator, body, &e); resp.StatusCode != http.StatusCreated {
		tn.t.Fatalf("enrol under notice %s: %d %v", v, resp.StatusCode, e)
	}
	return e["id"].(string), e["resident_token"].(string)
}

// The notice names every retention period the node keeps (seed rule 2 and
// suggestion 2, the right to know the time limit), including that of a
// resolved appeal's text (privacy.retention.appeals), which the node
// deleted under secure_delete while the notice did not say so: in its
// retention list, the resident's right to appeal and its text in both
// languages, with the configured period, and that the audit log keeps
// the decision, not the text.
func TestNoticeNamesTheRetentionOfResolvedAppeals(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Retention.Appeals = 10 * 24 * time.Hour })
	var notice node.Notice
	n.call("GET", "/v1/privacy", "", nil, &notice)
	if got := notice.Retention["resolved_appeals"]; got != "240h0m0s" {
		t.Errorf("retention of resolved appeals in the notice: %q, want 240h0m0s (retention: %v)", got, notice.Retention)
	}
	right := rightNaming(notice.YourRights, "POST /v1/appeals")
	if !strings.Contains(right, "10 days after") || !strings.Contains(right, "audit log keeps") {
		t.Errorf("your_rights on appeals does not say how long a resolved appeal is kept: %q", right)
	}
	for lang, says := range map[string][]string{
		"en":    {"10 days after", "resolved", "audit log keeps", "not its text"},
		"zh-CN": {"申诉处理完毕 10 天后", "审计日志只保留处理结果"},
	} {
		for _, s := range says {
			if !strings.Contains(notice.Text[lang], s) {
				t.Errorf("the %s notice does not say %q: %s", lang, s, notice.Text[lang])
			}
		}
	}
}

// rightNaming is the right of the notice's your_rights that names route,
// or "".
func rightNaming(rights []string, route string) string {
	for _, r := range rights {
		if strings.Contains(r, route) {
			return r
		}
	}
	return ""
}

// The notice says how long the legal basis of a lookup is kept readable,
// as the node keeps it (the lookup retention, then a keyed digest).
func TestNoticeNamesHowLongALookupsLegalBasisIsKept(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Retention.Lookups = 20 * 24 * time.Hour })
	var notice node.Notice
	n.call("GET", "/v1/privacy", "", nil, &notice)
	right := rightNaming(notice.YourRights, "GET /v1/subjects/{id}/lookups")
	if !strings.Contains(right, "legal basis's text is kept 20 days after the lookup") || !strings.Contains(right, "keyed digest") {
		t.Errorf("your_rights on lookups does not say how long their legal basis is kept: %q", right)
	}
	if !strings.Contains(right, "proves it saw your code itself") || !strings.Contains(right, "not merely its id") {
		t.Errorf("your_rights on lookups does not say the asker must prove it saw the code: %q", right)
	}
}
