package web_test

import (
	"fmt"
	"testing"

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
	scan.do(chromedp.KeyEvent(code + "\r"))
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
		scan.do(chromedp.KeyEvent(key.keys))
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
