package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/web"
)

// forgetsTheDevice presses a page's forget control (start), checks its
// confirmation says what it is (want) and answers yes: the page loads
// anew in its first-run state (the fatal card titled "Open this page from
// your link", noLink) and says it forgot (said). Then nothing the page
// kept stays on the device, in the DOM or in the address (gone: the
// token, the owner's id and name), the history entry was replaced rather
// than added to, and a reload shows the first-run state again, without
// the sentence.
func forgetsTheDevice(t *testing.T, tb *tab, start, confirm, yes, want, noLink, said string, gone ...string) {
	t.Helper()
	if !eval[bool](tb, fmt.Sprintf(`document.querySelector(%q).hidden`, confirm)) {
		t.Fatalf("%s: the confirmation shows before %s is pressed", tb.name, start)
	}
	tb.click(start)
	if got := tb.text(confirm + " p"); got != want {
		t.Errorf("%s: the confirmation says %q, want %q", tb.name, got, want)
	}
	entries := eval[float64](tb, `history.length`)
	tb.click(yes)
	tb.waitJS("the first-run state", `document.body.dataset.ready === "1" && !document.getElementById("fatal").hidden`)
	if got, want := tb.text("#fatal p"), en(t, noLink); got != want {
		t.Errorf("%s: after forgetting, the page says %q, want the first-run %q", tb.name, got, want)
	}
	if got, want := tb.text("#fatal-detail"), en(t, said); got != want {
		t.Errorf("%s: after forgetting, the page says %q, want %q", tb.name, got, want)
	}
	if keys := tb.storageKeys(); len(keys) > 1 || len(keys) == 1 && keys[0] != "local:hcfed.lang" {
		t.Errorf("%s: after forgetting, the device keeps %v, want at most the language chosen", tb.name, keys)
	}
	// The page's language (?lang=, the screenshots' English) may stay;
	// nothing else of the address.
	href := eval[string](tb, `location.href`)
	u, err := url.Parse(href)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("lang")
	if strings.Contains(href, "#") || len(q) > 0 {
		t.Errorf("%s: after forgetting, the address is %q, want the page's bare address (a ?lang= at most)", tb.name, href)
	}
	if n := eval[float64](tb, `history.length`); n != entries {
		t.Errorf("%s: forgetting left %v history entries, had %v: the page before it can be gone back to", tb.name, n, entries)
	}
	check := func(when string) {
		c := tb.contents()
		for _, s := range gone {
			if strings.Contains(c, s) {
				t.Errorf("%s: %s, the page or the device still holds %q", tb.name, when, s)
			}
		}
	}
	check("after forgetting")
	tb.open(eval[string](tb, `location.href`))
	if got, want := tb.text("#fatal p"), en(t, noLink); got != want || tb.text("#fatal-detail") != "" {
		t.Errorf("%s: reloaded after forgetting, the page says %q / %q, want only the first-run %q", tb.name, got, tb.text("#fatal-detail"), want)
	}
	check("reloaded after forgetting")
}

// walletForgetsTheDevice: a traveler on a shared or borrowed phone makes
// it forget their wallet — its token, the code kept, their resident id —
// and the phone shows nothing of them, reloaded or not. The link and the
// record stay: the link opens the wallet again (and the phone is the
// resident's again, for the steps after).
func walletForgetsTheDevice(t *testing.T, phone *tab, link, subjectID, name string) {
	if keys := phone.storageKeys(); !slices.Contains(keys, "local:hcfed.wallet.token") || !slices.Contains(keys, "local:hcfed.wallet.code") {
		t.Fatalf("the wallet keeps %v: want its token and its code, to be forgotten", keys)
	}
	// A second tab of the wallet on the same phone, showing the resident.
	second := phone.sibling(t, "wallet GD second tab")
	second.open(strings.Split(link, "#")[0])
	second.waitJS("the wallet in a second tab", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	forgetsTheDevice(t, phone, "#forget-start", "#forget-confirm", "#forget-yes", en(t, "wallet.forget_confirm"),
		"fatal.no_link_wallet", "wallet.forgotten", link[strings.Index(link, "token=")+6:], subjectID, name, "/v1/codes/")
	// The second tab starts again too: it shows nothing of the resident,
	// and writes nothing back (its code, at its next refresh).
	second.waitJS("the second tab's first-run state", `document.body.dataset.ready === "1" && !document.getElementById("fatal").hidden`)
	if c := second.contents(); strings.Contains(c, subjectID) || strings.Contains(c, "/v1/codes/") {
		t.Errorf("the wallet's second tab still holds the resident after the phone forgot them")
	}
	// What the confirmation says stands: the link still opens the wallet.
	phone.open(link)
	phone.waitJS("the wallet from its link again", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
}

// consoleSignsOut: at a shift change the operator signs out; the tab
// forgets the operator token and what it showed (a resident opened). The
// token is not revoked, as the confirmation says: the link opens the
// console again (and the tab is signed in again, for the steps after).
func consoleSignsOut(t *testing.T, d *demo, i int, console *tab, subjectID string) {
	console.setValue("#subject-id", subjectID)
	console.click(`#find-form button[type="submit"]`)
	console.waitJS("the resident record", `!document.getElementById("subject").hidden`)
	forgetsTheDevice(t, console, "#sign-out", "#sign-out-confirm", "#sign-out-yes", en(t, "console.sign_out_confirm"),
		"fatal.no_link_console", "console.signed_out", d.c.Tokens[i], subjectID)
	if st := d.call(i, "GET", "/v1/whoami", d.c.Tokens[i], nil, nil); st != http.StatusOK {
		t.Errorf("after signing out, the operator token is answered HTTP %d: signing out said it is not revoked", st)
	}
	console.open(d.url(i) + "/console#token=" + d.c.Tokens[i])
	console.waitJS("the console again", `!document.getElementById("main").hidden`)
}

// scannerUnregisters: a checkpoint tablet changes hands; unregistering
// forgets the scanner token on this device only, as its confirmation
// says: the node still accepts the token, and the registration link
// registers the device again (for the steps after).
func scannerUnregisters(t *testing.T, d *demo, i int, dev *tab, link string) {
	token := link[strings.Index(link, "token=")+6:]
	forgetsTheDevice(t, dev, "#unregister-start", "#unregister-confirm", "#unregister-yes", en(t, "scan.unregister_confirm"),
		"fatal.no_link_scanner", "scan.unregistered", token)
	if st := d.call(i, "GET", "/v1/whoami", token, nil, nil); st != http.StatusOK {
		t.Errorf("after unregistering, the scanner token is answered HTTP %d: the page said it stops working here only", st)
	}
	dev.open(link)
	dev.waitJS("the scanner again", `!document.getElementById("main").hidden`)
}

// englishFallbackSaysItsLanguage: on a page in zh-CN, a text shown in
// English for want of a translation (a message the catalogue lacks, the
// node's own words) carries lang="en", so that a screen reader pronounces
// it as English; the page's own text does not, and the mark goes once
// the text is the page's language again.
func englishFallbackSaysItsLanguage(t *testing.T, tb *tab) {
	tb.switchLang(web.LangZH)
	defer tb.switchLang(web.LangEN)
	const key = "console.manage"
	zh := msg(t, web.LangZH, key)
	// The zh-CN catalogue loses the heading's message: it falls back.
	got := eval[string](tb, fmt.Sprintf(`(() => {
		const h = document.querySelector('[data-i18n=%[1]q]'), m = HC_I18N["zh-CN"].msg;
		const keep = m[%[1]q]; delete m[%[1]q]; HC.apply();
		const out = [h.textContent, h.getAttribute("lang") || "", h.textContent];
		const said = document.getElementById("subject-result");
		HC.say(said, %[1]q); out.push(said.getAttribute("lang") || "");
		const li = HC.el("li", { text: HC.t(%[1]q) }); out.push(li.getAttribute("lang") || "");
		m[%[1]q] = keep; HC.apply();
		out.push(h.getAttribute("lang") || "", said.getAttribute("lang") || "", h.textContent);
		// The node's English words: an error code without a sentence, and
		// the detail after one that has a sentence.
		HC.say(said, new HC.APIError(409, "no_such_code", "the node's own words")); out.push(said.getAttribute("lang") || "");
		HC.say(said, new HC.APIError(400, "invalid", "name too long"));
		const span = said.querySelector("span");
		out.push(said.getAttribute("lang") || "", span ? span.getAttribute("lang") + ":" + span.textContent : "");
		HC.say(said, "");
		return out.join("|");
	})()`, key))
	parts := strings.Split(got, "|")
	want := []string{en(t, key), "en", en(t, key), "en", "en", "", "", zh, "en", "", "en:name too long"}
	if len(parts) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i, w := range want {
		if parts[i] != w {
			t.Errorf("step %d: got %q, want %q (all: %q)", i, parts[i], w, got)
		}
	}
	// The language buttons keep the lang written on them.
	if l := eval[string](tb, `document.querySelector('[data-lang="en"]').getAttribute("lang")`); l != "en" {
		t.Errorf("the English button's lang is %q", l)
	}
	if n := eval[float64](tb, `document.querySelectorAll("[lang]:not(html):not([data-lang])").length`); n != 0 {
		t.Errorf("%v elements of the zh-CN page carry a lang of their own with every message translated", n)
	}
}
