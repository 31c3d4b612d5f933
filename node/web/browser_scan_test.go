package web_test

import (
	"fmt"
	"testing"
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
