package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"

	"github.com/hcfed/hcfed/node/web"
)

// setStatusAsksFirst sets the status of the resident open in the console
// (testMasked, now green) to red with reason: the form offers the status
// they have; the console asks before any request, naming the resident
// masked and the change, saying that their codes stop verifying at every
// province for good, in the language switched to; Esc takes the question
// back with nothing sent; asked again, Enter confirms and one request
// sets the status.
// Not a t.Helper: a failure names its line here.
func setStatusAsksFirst(t *testing.T, console *tab, reason string) {
	if got := eval[string](console, `document.getElementById("st-status").value`); got != "green" {
		t.Errorf("the status form offers %q, want the resident's own, green", got)
	}
	sets := func() int { return console.requestsTo("/status") }
	before := sets()
	ask := func() {
		console.setValue("#st-status", "red")
		console.setValue("#st-reason", reason)
		console.click(`#status-form button[type="submit"]`)
		if n := sets() - before; n != 0 || eval[bool](console, `document.getElementById("status-confirm").hidden`) {
			t.Fatalf("Set status set it without asking (%d requests)", n)
		}
		if id := eval[string](console, `document.activeElement.id`); id != "status-yes" {
			t.Errorf("the question has not the focus (%q has): Enter would not confirm it", id)
		}
	}
	asked := func(lang, green, red string) {
		head, tail, _ := strings.Cut(msg(t, lang, "console.status_confirm_change"), "{who}")
		tail = strings.NewReplacer("{from}", green, "{to}", red).Replace(tail)
		if got := console.text("#status-confirm-text"); !strings.HasPrefix(got, head+testMasked) || !strings.HasSuffix(got, tail) {
			t.Errorf("in %s setting red asks %q, want %q naming the resident (%s) and %q", lang, got, head, testMasked, tail)
		}
	}
	ask()
	asked(web.LangEN, "Green", "Red")
	console.switchLang(web.LangZH)
	asked(web.LangZH, "绿码", "红码")
	console.switchLang(web.LangEN)
	console.typeKeys(kb.Escape)
	console.waitJS("Esc to take the question back", `document.getElementById("status-confirm").hidden`)
	if n := sets() - before; n != 0 {
		t.Fatalf("Esc sent %d status requests, want none", n)
	}
	// Its answer held back, the request stays on its way while Yes is
	// double-clicked with the mouse and Enter pressed on it again, and,
	// the form edited, Set status pressed again: Yes and Set status say
	// they are disabled, the question stays (the second click falls on
	// Yes, not on the button below it), nothing is asked again, one
	// request is sent; they are enabled again once it is answered.
	papers := func() int { return console.requestsTo("/codes") }
	papersBefore := papers()
	release := holdAnswers(console, "/status")
	ask()
	console.mouseDoubleClick("#status-yes")
	poll(t, "the confirmed status on its way", func() error {
		if n := sets() - before; n != 1 {
			return fmt.Errorf("%d requests", n)
		}
		return nil
	})
	const disabled = `[document.getElementById("status-yes"), document.querySelector('#status-form button[type="submit"]')]` +
		`.map((b) => b.getAttribute("aria-disabled") === "true")`
	if got := eval[[]bool](console, disabled); !got[0] || !got[1] {
		t.Errorf("while the status is on its way, Yes and Set status are aria-disabled %v, want both", got)
	}
	if eval[bool](console, `document.getElementById("status-confirm").hidden`) {
		t.Errorf("the question went before the answer: a double-click's second click falls on what it uncovers")
	}
	console.typeKeys("\r")
	console.setValue("#st-status", "yellow")
	console.click(`#status-form button[type="submit"]`)
	if !eval[bool](console, `document.getElementById("status-confirm").hidden`) {
		t.Errorf("Set status asked again while the status confirmed was on its way")
	}
	console.click("#status-yes")
	release()
	console.waitJS("the status change", fmt.Sprintf(`document.getElementById("subject-result").textContent === %q`, en(t, "console.status_done")))
	if n := sets() - before; n != 1 {
		t.Errorf("the status confirmed with a double-click and Enter was sent %d times, want once", n)
	}
	if n := papers() - papersBefore; n != 0 {
		t.Errorf("the double-click on Yes asked for %d paper codes", n)
	}
	if got := eval[[]bool](console, disabled); got[0] || got[1] {
		t.Errorf("once the status is set, Yes and Set status are aria-disabled %v, want neither", got)
	}
}

// holdAnswers holds back, in the tab, the answers to its calls to paths
// ending in suffix (the requests are sent) until release is called, which
// lets them through and calls as before.
func holdAnswers(tb *tab, suffix string) (release func()) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(() => {
		const f = window.fetch;
		let go;
		const held = new Promise((r) => { go = r; });
		window.hcRelease = () => { window.fetch = f; go(); return true; };
		window.fetch = async (u, o) => { const r = await f(u, o); if (String(u).endsWith(%q)) await held; return r; };
		return true;
	})()`, suffix))
	return func() { tb.t.Helper(); eval[bool](tb, `window.hcRelease()`) }
}

// resolveAsksFirst submits the form of the only appeal listed, of the
// resident subjectID, upholding it with green over red: the console asks
// before any request, saying what it does to the status and codes and
// that it is final; with cancel, Cancel takes the question back with
// nothing sent and it is asked again. Yes sends the decision.
// Not a t.Helper: a failure names its line here.
func resolveAsksFirst(t *testing.T, console *tab, subjectID string, cancel bool) {
	id := eval[string](console, `document.querySelector("#appeal-list li[data-appeal]").dataset.appeal`)
	sent := func() int { return console.requestsTo("/v1/appeals/" + id) }
	before := sent()
	want := strings.NewReplacer("{subject}", subjectID, "{from}", "Red", "{to}", "Green").Replace(en(t, "console.appeal_confirm_change"))
	ask := func() {
		console.click(`#appeal-list li[data-appeal] button[type="submit"]`)
		if got := console.text("#appeal-confirm-text"); got != want {
			t.Errorf("upholding the appeal asks %q, want %q", got, want)
		}
		if n := sent() - before; n != 0 || eval[bool](console, `document.getElementById("appeal-confirm").hidden`) {
			t.Fatalf("Resolve resolved the appeal without asking (%d requests)", n)
		}
	}
	ask()
	if cancel {
		console.click("#appeal-no")
		if n := sent() - before; n != 0 || !eval[bool](console, `document.getElementById("appeal-confirm").hidden`) {
			t.Fatalf("Cancel left the question or sent the decision (%d requests)", n)
		}
		ask()
	}
	console.click("#appeal-yes")
	poll(t, "the decision sent once", func() error {
		if n := sent() - before; n != 1 {
			return fmt.Errorf("%d requests", n)
		}
		return nil
	})
}
