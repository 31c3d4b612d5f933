package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// The notice promised "You may appeal or delete your record at any time";
// it now says what the node does (deletion while green; while yellow or
// red the health authority keeps the record, and the resident may
// appeal), in both languages, under a new version.
func TestNoticeSaysDeletionWaitsWhileTheStatusIsYellowOrRed(t *testing.T) {
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
	right := ""
	for _, r := range notice.YourRights {
		if strings.Contains(r, "DELETE /v1/subjects") {
			right = r
		}
	}
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
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.NoticeVersion = "2025-03" })
	var e map[string]any
	body := enrolment(residentName, residentID)
	body["consent"] = map[string]any{"notice_version": "2025-03", "accepted": true}
	if resp := n.call("POST", "/v1/subjects", n.operator, body, &e); resp.StatusCode != http.StatusCreated {
		t.Fatalf("enrol under notice 2025-03: %d %v", resp.StatusCode, e)
	}
	id, resident := e["id"].(string), e["resident_token"].(string)

	n.cfg.Privacy.NoticeVersion = "2026-11" // the earlier build's default, as init wrote it
	n.restart()
	var notice struct{ Version string }
	n.call("GET", "/v1/privacy", "", nil, &notice)
	if notice.Version != config.NoticeVersion {
		t.Errorf("a config naming 2026-11 serves notice %q, want this build's %q", notice.Version, config.NoticeVersion)
	}
	if !strings.Contains(n.logs.String(), "privacy.notice_version names the privacy notice of an earlier build") {
		t.Errorf("the node does not say that it serves another notice version than configured")
	}
	stale := enrolment(residentName, idNumberN(1))
	stale["consent"] = map[string]any{"notice_version": "2026-11", "accepted": true}
	if st, code := n.status("POST", "/v1/subjects", n.operator, stale); st != http.StatusUnprocessableEntity || code != "consent_required" {
		t.Errorf("consent to the replaced notice at enrolment: %d %s, want 422 consent_required", st, code)
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
