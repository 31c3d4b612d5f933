package web_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hcfed/hcfed/node/web"
)

// scannerSaysWhyTheCameraDidNotOpen opens the scanner page at u once per
// way a camera fails to open, and checks that the page says which and
// what to do: each said "Allow camera access", useless to a device
// without a camera, with its camera taken by another app, or on a page
// over plain http (where browsers offer no camera at all). The start
// button stays, to try again. It leaves the page freshly opened.
func scannerSaysWhyTheCameraDidNotOpen(t *testing.T, scan *tab, u string) {
	reject := func(name string) string {
		return fmt.Sprintf(`navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("test", %q))`, name)
	}
	for _, c := range []struct{ what, setup, key string }{
		{"no camera", reject("NotFoundError"), "scan.camera_none"},
		{"access refused", reject("NotAllowedError"), "scan.camera_denied"},
		{"camera taken", reject("NotReadableError"), "scan.camera_busy"},
		{"page over http", `Object.defineProperty(navigator, "mediaDevices", { value: undefined, configurable: true })`, "scan.camera_insecure"},
	} {
		scan.open(u)
		eval[bool](scan, "(() => { "+c.setup+"; return true; })()")
		scan.click("#camera-start")
		want := en(t, c.key)
		if err := scan.poll(fmt.Sprintf(`document.getElementById("camera-status").textContent === %q`, want)); err != nil {
			t.Errorf("%s: the scanner says %q, want %q", c.what, scan.text("#camera-status"), want)
		}
		if eval[bool](scan, `document.getElementById("camera-start").hidden || document.getElementById("camera-start").disabled`) {
			t.Errorf("%s: the Start camera button is gone", c.what)
		}
	}
	scan.open(u)
}

// scannerResultCoversWhatIsBehind shows a result on the scanner in tb
// and checks that the controls it covers cannot take the focus (Tab went
// on from "Next" to the hidden field and buttons behind), and that
// closing it gives the focus back to the code field.
func scannerResultCoversWhatIsBehind(t *testing.T, scan *tab, code string) {
	scan.paste(code)
	for _, id := range []string{"code-input", "camera-start"} {
		if eval[bool](scan, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.focus(); return document.activeElement === e; })()`, id)) {
			t.Errorf("while the result covers the page, #%s behind it takes the focus", id)
		}
	}
	scan.click("#result-close")
	if !eval[bool](scan, `document.activeElement === document.getElementById("code-input")`) {
		t.Errorf("after Next the focus is on %q, want the code field", eval[string](scan, `document.activeElement.id`))
	}
}

// resultShapesJS is the mark before the scanner's result for a valid
// code of each status.
const resultShapesJS = `["green", "yellow", "red"].map((st) => {
	const r = document.createElement("div"), p = document.createElement("p");
	r.className = "result status-" + st; p.className = "result-status"; r.append(p); document.body.append(r);
	const c = getComputedStyle(p, "::before").content;
	r.remove();
	return c;
})`

// scannerMarksEveryStatusByShape checks that a colour-blind guard tells
// the statuses apart by a mark as well as by the word: green had ✓, and
// yellow and red none, told apart from each other by colour alone before
// the words were read.
func scannerMarksEveryStatusByShape(t *testing.T, scan *tab) {
	marks := eval[[]string](scan, resultShapesJS)
	seen := map[string]bool{}
	for i, st := range []string{"green", "yellow", "red"} {
		if m := marks[i]; m == "none" || m == "normal" || m == "" || seen[m] {
			t.Errorf("a %s result is marked %q (all: %q), want a mark of its own", st, m, marks)
		}
		seen[marks[i]] = true
	}
}

// scannerTakesACodeTypedOverTheResult shows a result on the scanner and
// types the next code over it at once, as a keyboard-wedge scanner in a
// queue does (a burst of key events, then Enter): the result closes at
// its first character and the whole code is checked, where every
// keystroke went to the result and the code was lost. A code pasted over
// a result goes into the field too; a lone Enter or Escape only closes
// the result. code is a code the node finds valid.
func scannerTakesACodeTypedOverTheResult(t *testing.T, scan *tab, code string) {
	const notACode = "not-a-health-code"
	shown := `!document.getElementById("result").hidden`
	field := func() string { return eval[string](scan, `document.getElementById("code-input").value`) }

	if res := scan.paste(notACode); res.green() || res.Next != nextStep(t, web.LangEN, res.Reason) {
		t.Fatalf("%q shows %+v, want the next step for its reason", notACode, res)
	}
	resultFollowsTheLanguage(t, scan, "#result-next", map[string]string{web.LangZH: nextStep(t, web.LangZH, "malformed"), web.LangEN: nextStep(t, web.LangEN, "malformed")})
	scan.typeKeys(code + "\r")
	if err := scan.poll(shown + ` && document.getElementById("result").dataset.reason === "ok"`); err != nil {
		t.Fatalf("a code typed over the result was not checked: the result shows %+v, the field holds %d characters of the %d typed",
			scan.result(), len(field()), len(code))
	}
	if res := scan.result(); !res.green() || res.Name != testMasked {
		t.Errorf("the code typed over the result shows %+v", res)
	}

	for _, key := range []struct{ name, keys string }{{"Enter", "\r"}, {"Escape", kb.Escape}} {
		if !eval[bool](scan, shown) {
			scan.paste(code)
		}
		scan.typeKeys(key.keys)
		if eval[bool](scan, shown) || field() != "" {
			t.Errorf("a lone %s over the result leaves it shown (%v) or the field holding %q", key.name, eval[bool](scan, shown), field())
		}
		if !eval[bool](scan, `document.activeElement === document.getElementById("code-input")`) {
			t.Errorf("after a lone %s the focus is on %q, want the code field", key.name, eval[string](scan, `document.activeElement.id`))
		}
	}

	scan.paste(notACode)
	eval[bool](scan, fmt.Sprintf(`(() => { const d = new DataTransfer(); d.setData("text/plain", %q);
		document.activeElement.dispatchEvent(new ClipboardEvent("paste", { clipboardData: d, bubbles: true, cancelable: true })); return true; })()`, code))
	if eval[bool](scan, shown) || field() != code {
		t.Errorf("a code pasted over the result leaves it shown (%v) and the field holding %d characters of its %d", eval[bool](scan, shown), len(field()), len(code))
	}
	scan.click(`#paste-form button[type="submit"]`)
	scan.waitJS("the pasted code's result", shown+` && document.getElementById("result").dataset.reason === "ok"`)
	scan.click("#result-close")
}

// holdFirstVerifyJS gives the scanner a slow network for one check: the
// node's answer to the next POST /v1/verify is held until hcRelease() is
// called (it exists once the answer has come); every other call goes
// through. The held check is sent without the page's abort signal: the
// scanner gives a check up after CHECK_WITHIN (8 s), and typing a code
// through Chromium while the check is held took most of that on a loaded
// machine (scannerGivesUpOnAHungCheck checks the giving up). hcVerifies
// counts the checks sent, and hcShown logs each state the result goes
// through, in order: "hidden", or its reason and class. A result shows
// until it is closed: the scanner's own clearing of it after SHOW_FOR is
// not started (typing half a code over a result through Chromium took
// more than SHOW_FOR on a loaded machine, and the result cleared itself
// under the test's keys). hcUnhold undoes it all.
var holdFirstVerifyJS = fmt.Sprintf(`(() => {
	const real = window.fetch, realTimeout = window.setTimeout, r = document.getElementById("result");
	window.setTimeout = (f, ms, ...args) => ms === %d ? 0 : realTimeout(f, ms, ...args);
	let held = false;
	window.hcVerifies = 0; window.hcShown = []; window.hcRelease = null;
	window.fetch = (u, o) => {
		if (!String(u).endsWith("/v1/verify")) return real(u, o);
		window.hcVerifies++;
		if (held) return real(u, o);
		held = true;
		return real(u, { ...o, signal: undefined }).then((res) => new Promise((ok) => { window.hcRelease = () => ok(res); }));
	};
	const log = () => { const s = r.hidden ? "hidden" : r.dataset.reason + " " + r.className;
		if (window.hcShown[window.hcShown.length - 1] !== s) window.hcShown.push(s); };
	const obs = new MutationObserver(log);
	obs.observe(r, { attributes: true });
	log();
	window.hcUnhold = () => { window.fetch = real; window.setTimeout = realTimeout; obs.disconnect(); return true; };
	return true;
})()`, resultShowFor.Milliseconds())

// scannerKeepsACodeScannedWhileACheckIsOnItsWay scans two codes back to
// back on a slow network, as a keyboard-wedge scanner in a queue does:
// the second code's Enter comes while the first check still waits on the
// node. Both are checked, in order, and the first result (red: a code
// the node refuses) shows until the guard closes it before the second
// is checked: the second code was cleared from the field and never
// checked. A third code, with one already waiting, is refused in words
// rather than dropped or put in the place of the one waiting. A code
// being typed when a result comes goes on into the field and waits: the
// rest of it closed the result at once. code is a code the node finds
// valid.
func scannerKeepsACodeScannedWhileACheckIsOnItsWay(t *testing.T, scan *tab, code string) {
	const notACode = "not-a-health-code"
	field := func() string { return eval[string](scan, `document.getElementById("code-input").value`) }
	shownLog := func() []string { return eval[[]string](scan, `window.hcShown`) }
	verifies := func() int { return eval[int](scan, `window.hcVerifies`) }
	defer eval[bool](scan, `window.hcUnhold()`)

	eval[bool](scan, holdFirstVerifyJS)
	eval[bool](scan, `(() => { document.getElementById("code-input").focus(); return document.activeElement.id === "code-input"; })()`)
	scan.typeKeys(notACode + "\r" + code + "\r")
	if field() != "" || scan.text("#code-note") != en(t, "scan.next_waiting") {
		t.Errorf("a code entered while a check is on its way leaves the field holding %d characters and the note %q, want an empty field and %q",
			len(field()), scan.text("#code-note"), en(t, "scan.next_waiting"))
	}
	resultFollowsTheLanguage(t, scan, "#code-note", map[string]string{web.LangZH: msg(t, web.LangZH, "scan.next_waiting"), web.LangEN: en(t, "scan.next_waiting")})
	scan.typeKeys("a-third-code\r")
	if field() != "" || scan.text("#code-note") != en(t, "scan.next_refused") {
		t.Errorf("a third code, with one waiting, leaves the field holding %q and the note %q, want an empty field and %q",
			field(), scan.text("#code-note"), en(t, "scan.next_refused"))
	}

	scan.waitJS("the node's answer to the first check", `typeof window.hcRelease === "function"`)
	eval[bool](scan, `(() => { window.hcRelease(); return true; })()`)
	scan.waitJS("the first result", `document.getElementById("result").dataset.reason === "malformed"`)
	if n := verifies(); n != 1 {
		t.Errorf("with the first result showing, %d checks were sent, want 1 (the waiting code after it is closed)", n)
	}
	if got := scan.text("#result-note"); got != en(t, "scan.next_refused") {
		t.Errorf("the first result says %q about the codes after it, want %q", got, en(t, "scan.next_refused"))
	}

	scan.typeKeys(kb.Escape)
	scan.waitJS("the second result", `document.getElementById("result").dataset.reason === "ok"`)
	if res := scan.result(); !res.green() || res.Name != testMasked {
		t.Errorf("the code that waited shows %+v", res)
	}
	want := []string{"hidden", "malformed result status-invalid", "hidden", "ok result status-green"}
	if got := shownLog(); !slices.Equal(got, want) {
		t.Errorf("the scanner showed %q, want each result in turn, each until it was closed: %q", got, want)
	}
	if n := verifies(); n != 2 {
		t.Errorf("%d checks were sent, want 2: the third code was refused", n)
	}
	scan.click("#result-close")
	if field() != "" || scan.text("#code-note") != "" {
		t.Errorf("after the last result the field holds %q and the note says %q, want both empty", field(), scan.text("#code-note"))
	}

	// The first answer comes while the next code is half typed.
	eval[bool](scan, `window.hcUnhold() && `+holdFirstVerifyJS)
	scan.typeKeys(notACode + "\r" + code[:len(code)/2])
	scan.waitJS("the node's answer to the first check", `typeof window.hcRelease === "function"`)
	eval[bool](scan, `(() => { window.hcRelease(); return true; })()`)
	scan.waitJS("the first result", `document.getElementById("result").dataset.reason === "malformed"`)
	scan.typeKeys(code[len(code)/2:] + "\r")
	if got := shownLog(); !slices.Equal(got, want[:2]) || verifies() != 1 || scan.text("#result-note") != en(t, "scan.next_waiting") {
		t.Errorf("a code whose typing a result came in the middle of: the scanner showed %q and sent %d checks, the result says %q; want %q, 1 check and %q",
			got, verifies(), scan.text("#result-note"), want[:2], en(t, "scan.next_waiting"))
	}
	scan.typeKeys(kb.Escape)
	scan.waitJS("the second result", `document.getElementById("result").dataset.reason === "ok"`)
	if got := shownLog(); !slices.Equal(got, want) {
		t.Errorf("a code whose typing a result came in the middle of: the scanner showed %q, want %q", got, want)
	}
	scan.click("#result-close")
}

// checkGivenUpWithin is how soon a guard whose check hangs is told that
// it was not checked: the scanner's CHECK_WITHIN (8 s), and a margin.
const checkGivenUpWithin = 10 * time.Second

// scannerGivesUpOnAHungCheck: the scanner's connection hangs (a dead
// link, a node that takes the request and never answers). The guard is
// told "not checked" within seconds, rather than nothing for minutes and
// then the answer about a traveler who has gone, over the one in front.
// The scanner at u is opened in a device of its own, whose clock runs
// through checkGivenUpWithin in virtual time. Not a t.Helper: a failure
// names its line here.
// With old, the device's browser lacks AbortSignal.timeout (Safari
// before 16), and the page's own timer gives up instead.
func scannerGivesUpOnAHungCheck(t *testing.T, b *browser, u, code string, old bool) {
	scan := b.newTab(t, "scanner SH hung")
	scan.open(u)
	if old {
		eval[bool](scan, `(() => { AbortSignal.timeout = undefined; return true; })()`)
	}
	eval[bool](scan, `(() => { window.fetch = (u, o) => new Promise((_, reject) => { if (o && o.signal) o.signal.addEventListener("abort", () => reject(o.signal.reason)); });
		return true; })()`)
	scan.setValue("#code-input", code)
	scan.click(`#paste-form button[type="submit"]`)
	// While the answer is on its way the guard sees that a check is.
	if got, want := scan.text("#check-status"), en(t, "scan.checking"); got != want {
		t.Errorf("while a check is on its way the scanner says %q, want %q", got, want)
	}
	scan.runClock(checkGivenUpWithin)
	if !eval[bool](scan, `!document.getElementById("result").hidden`) {
		t.Fatalf("%v after a check whose answer never came, the scanner still shows nothing", checkGivenUpWithin)
	}
	if got := scan.text("#check-status"); got != "" {
		t.Errorf("after the check the scanner still says %q", got)
	}
	res := scan.result()
	scan.click("#result-close")
	if res.Status != en(t, "scan.unchecked") || res.green() || res.Name != "" || res.Text != en(t, "error.network") {
		t.Errorf("a check whose answer never came shows %+v, want %q and the network error", res, en(t, "scan.unchecked"))
	}
}

// keepResultJS stops the scanner's own clearing of a result after
// SHOW_FOR: what clears it below is the page being hidden, not a timer
// that ran out on a loaded machine.
var keepResultJS = fmt.Sprintf(`(() => { const real = window.setTimeout;
	window.setTimeout = (f, ms, ...args) => ms === %d ? 0 : real(f, ms, ...args); return true; })()`, resultShowFor.Milliseconds())

// leftShownJS is what the scanner shows of the last check: the result
// (hidden or not), its words and masked name, the code field and the note
// under it.
const leftShownJS = `(() => { const r = document.getElementById("result"), tx = (id) => document.getElementById(id).textContent;
	return JSON.stringify({ shown: !r.hidden, status: tx("result-status"), name: tx("result-name"), reason: tx("result-reason"),
		field: document.getElementById("code-input").value, note: tx("code-note") }); })()`

// nothingShownJS is leftShownJS when nothing of a check shows.
const nothingShownJS = `{"shown":false,"status":"","name":"","reason":"","field":"","note":""}`

// hidePage hides the page in tb as a phone locked or another app in front
// does, through the page lifecycle (frozen: visibilitychange to hidden,
// then freeze; back to active: resume). Chromium leaves the page's
// visibilityState hidden after, and a page hidden is not hidden again:
// the tab is the test's alone.
func (tb *tab) hidePage() {
	tb.t.Helper()
	for _, st := range []page.SetWebLifecycleStateState{page.SetWebLifecycleStateStateFrozen, page.SetWebLifecycleStateStateActive} {
		if _, err := chromedp.Call(tb.ctx, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: st}); err != nil {
			tb.t.Fatalf("%s: setting the page %s: %v", tb.name, st, err)
		}
	}
}

// awayAndBack leaves the page in tb for elsewhere and comes back with the
// browser's Back, and reports whether the page came back from the
// back-forward cache (its script's state kept) rather than loaded again.
func (tb *tab) awayAndBack(elsewhere string) bool {
	tb.t.Helper()
	path := eval[string](tb, `(() => { window.hcBeforeAway = true; return location.pathname; })()`)
	tb.do(chromedp.Navigate(elsewhere))
	eval[bool](tb, `(() => { setTimeout(() => history.back(), 0); return true; })()`)
	tb.waitJS("the page again", fmt.Sprintf(`location.pathname === %q && document.body && document.body.dataset.ready === "1"`, path))
	return eval[bool](tb, `window.hcBeforeAway === true`)
}

// noPagehideJS, run before a page's own script, keeps the page from
// listening for pagehide.
const noPagehideJS = `(() => { const add = EventTarget.prototype.addEventListener;
	EventTarget.prototype.addEventListener = function (type, ...rest) { if (this === window && type === "pagehide") return; return add.call(this, type, ...rest); }; })()`

// scannerForgetsItsResultWhenHidden: a scanner phone locked, or put
// behind another app, while a result shows kept the last traveler's
// result and masked name (its clearing is a timer, which does not run
// while the page is hidden): in the app switcher's picture, and on the
// page for a moment when it was looked at again, a stale "valid" in front
// of the next traveler. So did the page left and come back to with Back
// (the back-forward cache). The scanner at u is opened in a device of its
// own (its page is left hidden); elsewhere is another page of the node's.
// Each way the page is hidden is checked alone: visibilitychange, an
// answer that comes while hidden, pagehide, and pageshow from the cache.
func scannerForgetsItsResultWhenHidden(t *testing.T, b *browser, u, elsewhere, code string) {
	scan := b.newTab(t, "scanner SH hidden")
	scan.open(u)
	eval[bool](scan, keepResultJS)
	shownValid := func(what string) {
		t.Helper()
		if res := scan.paste(code); !res.green() || res.Name != testMasked {
			t.Fatalf("%s: the scanner shows %+v, want green and %q", what, res, testMasked)
		}
	}

	// Hidden: the phone locked, a code half typed under the result.
	shownValid("before the page is hidden")
	scan.setValue("#code-input", "a-code-half-typed")
	scan.hidePage()
	if !eval[bool](scan, `document.visibilityState === "hidden"`) {
		t.Fatal("the page was not hidden: nothing below would be checked")
	}
	if got := eval[string](scan, leftShownJS); got != nothingShownJS {
		t.Errorf("after the page was hidden the scanner still shows %s, want %s", got, nothingShownJS)
	}

	// An answer that comes while the page is hidden is not shown.
	scan.click("#result-close") // if it still shows (above)
	eval[bool](scan, holdFirstVerifyJS)
	scan.setValue("#code-input", code)
	scan.click(`#paste-form button[type="submit"]`)
	scan.waitJS("the node's answer", `typeof window.hcRelease === "function"`)
	// The page stays hidden (hidePage): it is told so again, as a page
	// shown and hidden again would be.
	eval[bool](scan, `document.visibilityState === "hidden" && document.dispatchEvent(new Event("visibilitychange"))`)
	eval[bool](scan, `(() => { window.hcRelease(); return true; })()`)
	scan.waitJS("the check to end", `document.getElementById("check-status").textContent === ""`)
	if got := eval[[]string](scan, `window.hcShown`); !slices.Equal(got, []string{"hidden"}) {
		t.Errorf("an answer that came after the page was hidden was shown: %q", got)
	}
	eval[bool](scan, `window.hcUnhold()`)

	// Left for another page and come back to with Back: pagehide.
	shownValid("before the page is left")
	eval[bool](scan, `(() => { window.hcAtPagehide = null; window.addEventListener("pagehide", () => { window.hcAtPagehide = `+leftShownJS+`; }); return true; })()`)
	if !scan.awayAndBack(elsewhere) {
		t.Skipf("the scanner page was not kept in the back-forward cache (%s): pagehide and pageshow unchecked",
			eval[string](scan, `JSON.stringify(performance.getEntriesByType("navigation")[0].notRestoredReasons)`))
	}
	if got := eval[string](scan, `window.hcAtPagehide`); got != nothingShownJS {
		t.Errorf("as the page was left (pagehide) the scanner still showed %s, want %s", got, nothingShownJS)
	}

	// pageshow from the cache alone: the page opened again in a browser
	// that tells it nothing as it is left (its pagehide listeners are not
	// added).
	if _, err := chromedp.Call(scan.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: noPagehideJS}); err != nil {
		t.Fatal(err)
	}
	scan.open(u)
	eval[bool](scan, keepResultJS)
	shownValid("before the page is left again")
	if !scan.awayAndBack(elsewhere) {
		t.Fatal("the scanner page was not kept in the back-forward cache the second time")
	}
	if got := eval[string](scan, leftShownJS); got != nothingShownJS {
		t.Errorf("back from the back-forward cache (pageshow) the scanner shows %s, want %s", got, nothingShownJS)
	}
}
