package api_test

import (
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
)

// The notice a resident consents to says, in Chinese and English, what
// another province's verification of their code tells this province (the
// day and kind of place, never the time or the scanner), or, with
// privacy.receipts off, that this province learns nothing of it.
func TestNoticeStatesVerificationReceiptsAsConfigured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		setting        string
		en, zh         []string
		otherProvinces bool // the rights name other provinces' verifications
	}{
		{config.ReceiptsSend, []string{"the day and the kind of place", "never the time of day", "scanner"},
			[]string{"日期和场所类型", "不包括具体时间", "扫码设备"}, true},
		{config.ReceiptsOff, []string{"no verification receipts", "discarded unread", "Nor does this province tell"},
			[]string{"不接收核验回执", "不经读取即被丢弃"}, false},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Receipts = tc.setting })
			var notice node.Notice
			if resp := n.call("GET", "/v1/privacy", "", nil, &notice); resp.StatusCode != 200 {
				t.Fatalf("GET /v1/privacy: %d", resp.StatusCode)
			}
			for lang, wants := range map[string][]string{"en": tc.en, "zh-CN": tc.zh} {
				said := notice.VerifiedElsewhere[lang]
				for _, w := range wants {
					if !strings.Contains(said, w) {
						t.Errorf("%s notice on receipts %q lacks %q", lang, said, w)
					}
				}
				if !strings.Contains(notice.Text[lang], said) {
					t.Errorf("the %s summary a resident reads does not carry the receipts paragraph", lang)
				}
			}
			if got := strings.Contains(strings.Join(notice.YourRights, "\n"), "in other provinces"); got != tc.otherProvinces {
				t.Errorf("rights name other provinces' verifications: %v, want %v", got, tc.otherProvinces)
			}
		})
	}
}

// The notice a resident reads states the purpose in words of its own
// language: the default purpose's identifier ("epidemic-prevention") stood
// in the Chinese sentence as it is ("本健康码仅用于epidemic-prevention"). A
// purpose the province configured otherwise is stated as configured.
func TestNoticeStatesThePurposeInWordsOfEachLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		purpose string
		zh, en  string
	}{
		{"epidemic-prevention", "本健康码仅用于疫情防控。", "This health code serves only epidemic prevention and control."},
		{"return to work", "本健康码仅用于return to work。", "This health code serves only return to work."},
	} {
		t.Run(tc.purpose, func(t *testing.T) {
			n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Purpose = tc.purpose })
			var notice node.Notice
			if resp := n.call("GET", "/v1/privacy", "", nil, &notice); resp.StatusCode != 200 {
				t.Fatalf("GET /v1/privacy: %d", resp.StatusCode)
			}
			if !strings.HasPrefix(notice.Text["zh-CN"], tc.zh) {
				t.Errorf("zh-CN notice %q, want it to begin %q", notice.Text["zh-CN"], tc.zh)
			}
			if !strings.HasPrefix(notice.Text["en"], tc.en) {
				t.Errorf("en notice %q, want it to begin %q", notice.Text["en"], tc.en)
			}
			if notice.Purpose != tc.purpose {
				t.Errorf("notice purpose %q, want the configured %q (consent records refer to it)", notice.Purpose, tc.purpose)
			}
		})
	}
}
