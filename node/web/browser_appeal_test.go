package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/web"
)

// resolveStaleAppeal drives the console's queue of province i when the
// resident's status is set again (a new exposure) after their appeal was
// filed and listed: upholding it is refused with the catalogue's
// sentence in both languages, the queue is read again and marks the
// appeal (the status and when it was set), and the decision taken again
// against that status is recorded; each decision is asked first
// (resolveAsksFirst). The appeal form of the only appeal listed is
// filled by fill before each submission; the second, before the language
// switches back and forth, which keeps what fill typed.
// Not a t.Helper: a failure names its line here.
func resolveStaleAppeal(t *testing.T, d *demo, i int, console *tab, subjectID string, fill func(p string)) {
	id := eval[string](console, `document.querySelector("#appeal-list li[data-appeal]").dataset.appeal`)
	p := "#ap-" + id + "-"
	if st := d.call(i, "PUT", "/v1/subjects/"+subjectID+"/status", d.c.Tokens[i],
		map[string]string{"status": "red", "reason": "new exposure"}, nil); st != http.StatusOK {
		t.Fatalf("status set again: HTTP %d", st)
	}
	fill(p)
	resolveAsksFirst(t, console, subjectID, true)
	console.waitJS("the stale refusal", fmt.Sprintf(`document.getElementById("appeal-result").textContent.startsWith(%q)`, en(t, "error.appeal_stale")))
	console.waitJS("the queue read again, the appeal marked", `!!document.querySelector("#appeal-list li[data-appeal] [data-status-changed]")`)
	detail := strings.TrimPrefix(console.text("#appeal-result"), en(t, "error.appeal_stale"))
	mark := `#appeal-list li[data-appeal] [data-status-changed]`
	if got := console.text(mark); !strings.HasPrefix(got, strings.Split(en(t, "console.appeal_status_changed"), "{")[0]) || !strings.Contains(got, "Red") {
		t.Errorf("the marked appeal says %q", got)
	}
	// The decision is taken again before a language switch, which re-renders
	// the queue: what was typed and chosen, and the focus, outlive it, and
	// the resolution below sends them (before, the form came back empty).
	fill(p)
	fields := `JSON.stringify(["outcome", "status", "note"].map((f) => document.querySelector(` + fmt.Sprintf("%q", p) + ` + f).value))`
	typed := eval[string](console, fields)
	eval[bool](console, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.focus(); e.setSelectionRange(3, 3); return true; })()`, p+"note"))
	console.switchLang(web.LangZH)
	if got := eval[string](console, fields); got != typed {
		t.Errorf("after a language switch the appeal's form holds %s, want %s as typed", got, typed)
	}
	if got := eval[string](console, `document.activeElement.id + "@" + document.activeElement.selectionStart`); got != strings.TrimPrefix(p, "#")+"note@3" {
		t.Errorf("after a language switch the focus is on %q, want the note, at the caret", got)
	}
	if got, want := console.text("#appeal-result"), msg(t, web.LangZH, "error.appeal_stale")+detail; got != want {
		t.Errorf("in Chinese the refusal reads %q, want %q", got, want)
	}
	if got := console.text(mark); !strings.HasPrefix(got, strings.Split(msg(t, web.LangZH, "console.appeal_status_changed"), "{")[0]) {
		t.Errorf("in Chinese the marked appeal says %q", got)
	}
	console.switchLang(web.LangEN)
	resolveAsksFirst(t, console, subjectID, false)
	console.waitJS("the resolution", fmt.Sprintf(`document.getElementById("appeal-result").textContent === %q`, en(t, "console.resolved")))
}

// walletShowsTheOutcome checks that the wallet says when an appeal was
// decided and the status it set, in both languages.
func walletShowsTheOutcome(t *testing.T, wallet *tab, status string) {
	for _, lang := range []string{web.LangZH, web.LangEN} {
		wallet.switchLang(lang)
		want := strings.Split(msg(t, lang, "wallet.appeal_decided_status"), "{")[0]
		word := msg(t, lang, "status."+status)
		if got := wallet.text("#appeals"); !strings.Contains(got, want) || !strings.Contains(got, word) {
			t.Errorf("in %s the wallet's appeals read %q, want when it was decided (%q) and the status set (%q)", lang, got, want, word)
		}
	}
}

// withdrawPaperCode drives the console's withdrawal of a lost paper code
// of the resident of province i: a paper code printed from the console
// verifies, the console says what the withdrawal does before it, and
// after it says how many were withdrawn (in both languages) and the code
// is refused as revoked.
// Not a t.Helper: a failure names its line here.
func withdrawPaperCode(t *testing.T, d *demo, i int, console *tab, subjectID string) {
	console.setValue("#subject-id", subjectID)
	console.click(`#find-form button[type="submit"]`)
	console.waitJS("the resident record", `!document.getElementById("subject").hidden`)
	// Pressed twice before the first press is answered: one paper code.
	papers := console.requestsTo("/codes")
	console.doubleClick("#paper-btn")
	console.waitJS("the paper code", `!document.getElementById("paper").hidden && document.getElementById("paper-img").naturalWidth > 0`)
	code := decodeQR(t, console.imagePNG("#paper-img"))
	sc := addScanner(t, d, i)
	verify := func() verification {
		var v verification
		d.call(i, "POST", "/v1/verify", sc, map[string]string{"code": code}, &v)
		return v
	}
	if v := verify(); !v.Valid {
		t.Fatalf("the paper code before its withdrawal: %+v", v)
	}
	console.click("#paper-withdraw")
	if w := console.text("#paper-withdraw-confirm"); !strings.Contains(w, "every province") || !strings.Contains(w, "cannot be undone") || !strings.Contains(w, "phone codes and status stay") {
		t.Errorf("before withdrawing the console says %q; want what it does", w)
	}
	withdrawals := console.requestsTo("/paper-codes")
	console.doubleClick("#paper-withdraw-yes")
	done := func(lang string) string {
		return strings.ReplaceAll(msg(t, lang, "console.paper_withdrawn"), "{n}", "1")
	}
	console.waitJS("the withdrawal", fmt.Sprintf(`document.getElementById("subject-result").textContent.startsWith(%q)`, strings.Split(en(t, "console.paper_withdrawn"), "{")[0]))
	if n := console.requestsTo("/codes") - papers; n != 1 {
		t.Errorf("Issue a paper code pressed twice issued %d paper codes, want 1", n)
	}
	if n := console.requestsTo("/paper-codes") - withdrawals; n != 1 {
		t.Errorf("the withdrawal confirmed twice was sent %d times, want once (the second says 0 withdrawn)", n)
	}
	if eval[bool](console, `!!document.getElementById("paper-img").getAttribute("src")`) {
		t.Errorf("the withdrawn paper code is still in the console's page")
	}
	if got := console.text("#subject-result"); got != done(web.LangEN) {
		t.Errorf("after the withdrawal the console says %q, want %q", got, done(web.LangEN))
	}
	resultFollowsTheLanguage(t, console, "#subject-result", map[string]string{web.LangZH: done(web.LangZH), web.LangEN: done(web.LangEN)})
	if v := verify(); v.Valid || v.Reason != "revoked" {
		t.Fatalf("the paper code after its withdrawal: %+v, want revoked", v)
	}
}
