package web_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hcfed/hcfed/node/web"
	"github.com/hcfed/hcfed/trust"
)

// msg is the catalogue's message key in lang.
func msg(t *testing.T, lang, key string) string {
	t.Helper()
	return catalogueEntry(t, lang, "message", key, func(m web.Messages) map[string]string { return m.Msg })
}

// nextStep is the catalogue's next step for a guard after a code is
// refused for reason, in lang.
func nextStep(t *testing.T, lang, reason string) string {
	t.Helper()
	return catalogueEntry(t, lang, "next step for reason", reason, func(m web.Messages) map[string]string { return m.NextSteps })
}

// catalogueEntry is key in the part of lang's catalogue that part picks
// (what names it in the failure).
func catalogueEntry(t *testing.T, lang, what, key string, part func(web.Messages) map[string]string) string {
	t.Helper()
	cat, err := web.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := part(cat[lang])[key]
	if !ok {
		t.Fatalf("no %s %s %q", lang, what, key)
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

// timezone makes the tab's clock run in zone (IANA name; "" for the host's).
func (tb *tab) timezone(zone string) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		tb.t.Fatalf("%s: time zone %q: %v", tb.name, zone, err)
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

// walletShowsForeignDay checks how the wallet dates a verification
// another province reported: a receipt carries its day in China's time
// (2026-11-30) and no time of day, and the wallet showed its start as a
// time in the phone's zone: "Nov 29, 2026, 8:00:00 AM" in California for
// a check made on the 30th; and the kind of place, in Chinese too, was
// the API's English word (checkpoint). It waits for the receipt of a scan in
// province from, reopening the wallet (which lists once per load).
func walletShowsForeignDay(t *testing.T, d *demo, home int, wallet *tab, subjectID, from string) {
	tb := wallet
	tb.timezone("America/Los_Angeles")
	defer tb.timezone("") // the host's again
	var day string
	poll(t, "a receipt from "+from, func() error {
		var v struct {
			Verifications []struct {
				Province string `json:"province"`
				Day      string `json:"day"`
			} `json:"verifications"`
		}
		d.call(home, "GET", "/v1/subjects/"+subjectID+"/verifications", d.c.Tokens[home], nil, &v)
		for _, r := range v.Verifications {
			if r.Province == from && r.Day != "" {
				day = r.Day
				return nil
			}
		}
		return fmt.Errorf("none yet in %+v", v.Verifications)
	})
	tb.open(d.url(home) + "/wallet")
	sel := fmt.Sprintf(`[...document.querySelectorAll("#verifications li")].find((li) => li.textContent.includes("(%s)"))`, from)
	tb.waitJS("the verification in "+from, sel)
	got := eval[string](tb, sel+".textContent")
	d0, err := time.Parse(time.DateOnly, day)
	if err != nil {
		t.Fatal(err)
	}
	if want := d0.Format("Jan 2, 2006") + " — "; !strings.HasPrefix(got, want) {
		t.Errorf("the wallet dates a check made in %s on %s %q, want it to start %q (the day, no time of day)", from, day, got, want)
	}
	// The kind of place travels as a word of the API (checkpoint) and is
	// said in the wallet's language.
	tb.switchLang(web.LangZH)
	defer tb.switchLang(web.LangEN)
	got = eval[string](tb, sel+".textContent")
	if want := fmt.Sprintf("%d年%d月%d日 — ", d0.Year(), d0.Month(), d0.Day()); !strings.HasPrefix(got, want) || !strings.Contains(got, msg(t, web.LangZH, "place.checkpoint")) {
		t.Errorf("in Chinese the wallet lists the check as %q, want it to start %q and name the place %q", got, want, msg(t, web.LangZH, "place.checkpoint"))
	}
}

// consoleSaysWarningsInItsLanguage has the federation operators publish a
// trust list that expires in three days and checks that the console of
// node home lists the warning in English and, switched, in Chinese, its
// time written by the page's date formatter in either (the Chinese
// console showed the node's English sentence with a UTC time); and that a
// warning code the console has no sentence for is shown in the node's
// English words.
func consoleSaysWarningsInItsLanguage(t *testing.T, d *demo, home int, console *tab) {
	held := d.c.Nodes[home].Node.State().TrustList()
	next, err := trust.Propose(held.TrustList, []trust.Change{{Op: "expires", Duration: 3 * 24 * time.Hour}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := d.c.Sign(next, len(d.c.Operators))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.c.PublishTrustList(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	version := strconv.FormatUint(next.Version, 10)
	var expires string
	poll(t, "the warning of trust list v"+version, func() error {
		var v struct {
			WarningDetails []struct {
				Code   string            `json:"code"`
				Params map[string]string `json:"params"`
			} `json:"warning_details"`
		}
		d.call(home, "GET", "/v1/federation", "", nil, &v)
		for _, w := range v.WarningDetails {
			if w.Code == "trust_list_expires" && w.Params["version"] == version {
				expires = w.Params["expires"]
				return nil
			}
		}
		return fmt.Errorf("warnings %+v", v.WarningDetails)
	})
	console.open(d.url(home) + "/console")
	const sel = `#fed-warnings li[data-warning="trust_list_expires"]`
	console.waitJS("the warning", fmt.Sprintf(`!!document.querySelector(%q)`, sel))
	for _, lang := range []string{web.LangEN, web.LangZH} {
		console.switchLang(lang)
		when := eval[string](console, fmt.Sprintf(`HC.fmtTime(%q)`, expires))
		want := "⚠ " + strings.NewReplacer("{version}", version, "{expires}", when).Replace(msg(t, lang, "warning.trust_list_expires"))
		if got := console.text(sel); got != want || strings.Contains(got, expires) {
			t.Errorf("in %s the console warns %q, want %q", lang, got, want)
		}
	}
	// A code from a newer node: the console falls back to its sentence.
	got := eval[string](console, `(() => {
		CON.state.fed.warning_details.push({ code: "from_a_newer_node", params: {}, text: "something new" });
		HC.setLang("en");
		return document.querySelector('#fed-warnings li[data-warning="from_a_newer_node"]').textContent; })()`)
	if got != "⚠ something new" {
		t.Errorf("a warning code without a sentence is shown as %q, want the node's text", got)
	}
}

// languageIsRemembered switches the wallet in tb (opened in English, the
// browser's language) to Chinese, reloads it and opens the node's front
// page: both come up in Chinese, as chosen, and the device keeps the
// language code and nothing else for it (the choice was forgotten at
// every load). A ?lang= in a link still wins for its page. It leaves tb
// in English, on the wallet at page.
func languageIsRemembered(t *testing.T, tb *tab, origin, page string) {
	before := tb.storageKeys()
	tb.switchLang(web.LangZH)
	tb.open(origin + page)
	if got := eval[string](tb, `document.documentElement.lang`); got != web.LangZH {
		t.Errorf("reloaded after switching to Chinese, %s opens in %q", page, got)
	}
	if got, want := tb.text("h1"), msg(t, web.LangZH, "wallet.title"); got != want {
		t.Errorf("reloaded after switching to Chinese, %s is titled %q, want %q", page, got, want)
	}
	tb.open(origin + "/")
	if got, want := tb.text("h1"), msg(t, web.LangZH, "index.title"); got != want || eval[string](tb, `document.documentElement.lang`) != web.LangZH {
		t.Errorf("after switching the wallet to Chinese the front page is titled %q, want %q", got, want)
	}
	if got := eval[string](tb, `localStorage.getItem("hcfed.lang") || ""`); got != web.LangZH {
		t.Errorf("the device keeps %q for the language, want the code %q only", got, web.LangZH)
	}
	// Nothing but the language is stored for it.
	others := func(keys []string) []string {
		keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "local:hcfed.lang" })
		slices.Sort(keys)
		return keys
	}
	if after := tb.storageKeys(); !slices.Equal(others(after), others(before)) {
		t.Errorf("switching the language changed the stored keys from %v to %v, want only local:hcfed.lang added", before, after)
	}
	tb.open(origin + "/?lang=en")
	if got := eval[string](tb, `document.documentElement.lang`); got != web.LangEN {
		t.Errorf("a link with ?lang=en opens in %q on a device that remembers Chinese", got)
	}
	tb.switchLang(web.LangEN)
	tb.open(origin + page)
	if got := eval[string](tb, `document.documentElement.lang`); got != web.LangEN {
		t.Errorf("switched back to English, %s reopens in %q", page, got)
	}
}
