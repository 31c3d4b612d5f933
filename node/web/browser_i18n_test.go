package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/web"
)

// msg is the catalogue's message key in lang.
func msg(t *testing.T, lang, key string) string {
	t.Helper()
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := cat[lang].Msg[key]
	if !ok {
		t.Fatalf("no %s message %q", lang, key)
	}
	return s
}

// switchLang presses the page's language button, as its user would.
func (tb *tab) switchLang(lang string) {
	tb.t.Helper()
	tb.click(fmt.Sprintf(`[data-lang=%q]`, lang))
	tb.waitJS("the page in "+lang, fmt.Sprintf(`document.documentElement.lang === %q`, lang))
}

// consoleResultsFollowTheLanguage checks, on a console that has just
// enrolled a resident, that the sentences shown after an action (the
// enrolment done, a refusal with the node's own detail) are said again in
// the language switched to: they stayed in the language of the moment
// they were shown.
func consoleResultsFollowTheLanguage(t *testing.T, console *tab) {
	if got := console.text("#enrol-result"); got != en(t, "console.enrol_done") {
		t.Fatalf("after enrolment the console says %q", got)
	}
	console.setValue("#subject-id", "no-such-resident")
	console.click(`#find-form button[type="submit"]`)
	console.waitJS("the refusal", fmt.Sprintf(`document.getElementById("subject-result").textContent.startsWith(%q)`, en(t, "error.not_found")))
	detail := strings.TrimPrefix(console.text("#subject-result"), en(t, "error.not_found"))

	console.switchLang(web.LangZH)
	if got, want := console.text("#enrol-result"), msg(t, web.LangZH, "console.enrol_done"); got != want {
		t.Errorf("in Chinese the enrolment result reads %q, want %q", got, want)
	}
	if got, want := console.text("#subject-result"), msg(t, web.LangZH, "error.not_found")+detail; got != want {
		t.Errorf("in Chinese the refusal reads %q, want %q", got, want)
	}
	console.switchLang(web.LangEN)
	if got := console.text("#enrol-result"); got != en(t, "console.enrol_done") {
		t.Errorf("back in English the enrolment result reads %q", got)
	}
}

// resultFollowsTheLanguage switches tb to Chinese and back, checking that
// the sentence in sel reads want (by language) each way.
func resultFollowsTheLanguage(t *testing.T, tb *tab, sel string, want map[string]string) {
	t.Helper()
	for _, lang := range []string{web.LangZH, web.LangEN} {
		tb.switchLang(lang)
		if got := tb.text(sel); got != want[lang] {
			t.Errorf("%s: in %s %s reads %q, want %q", tb.name, lang, sel, got, want[lang])
		}
	}
}
