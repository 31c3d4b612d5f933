package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The pages on a bad network: something else answering in the node's
// place, connections that hang.

// scannerTakesNoVerdictFromAnotherAnswer: on a bad network something
// else answers in the node's place — a Wi-Fi login page (HTML, 200), a
// proxy's error page (HTML, 401 or 502), a JSON that is no verification.
// None is a verdict: the guard is told the code was not checked, in
// words, never "not valid" (which sent a traveler with a valid code to
// the local procedure), and a 401 that is not the node's does not make
// the scanner forget its registration.
func scannerTakesNoVerdictFromAnotherAnswer(t *testing.T, scan *tab, code string) {
	for _, c := range []struct {
		what, body, ctype, detail string
		status                    int
	}{
		{"a Wi-Fi login page", "<html><body>Log in to the station Wi-Fi</body></html>", "text/html", "HTTP 200, text/html", 200},
		{"a proxy refusing", "<html><body>401 Authorization Required</body></html>", "text/html; charset=utf-8", "HTTP 401, text/html", 401},
		{"a gateway error", "Bad Gateway", "text/plain", "HTTP 502, text/plain", 502},
		{"a JSON that is no verification", `{"ok":true}`, "application/json", "not a verification", 200},
	} {
		eval[bool](scan, fmt.Sprintf(`(() => { window.hcRealFetch = window.fetch;
			window.fetch = () => Promise.resolve(new Response(%q, { status: %d, headers: { "Content-Type": %q } })); return true; })()`, c.body, c.status, c.ctype))
		res := scan.paste(code)
		eval[bool](scan, `(() => { window.fetch = window.hcRealFetch; return true; })()`)
		scan.click("#result-close")
		want := en(t, "error.bad_answer") + " (" + c.detail + ")"
		if res.Status != en(t, "scan.unchecked") || strings.Contains(res.Class, "status-invalid") || res.green() ||
			res.Name != "" || res.Text != want || res.Next != "" {
			t.Errorf("%s answering in the node's place shows %+v, want %q and %q, not a verdict", c.what, res, en(t, "scan.unchecked"), want)
		}
		if !eval[bool](scan, `!!localStorage.getItem("hcfed.scanner.token") && !document.getElementById("main").hidden`) {
			t.Fatalf("after %s answered in the node's place the scanner forgot its registration", c.what)
		}
	}
}

// consoleFedWithin is the console's FED_WITHIN (console.js).
const consoleFedWithin = 10 * time.Second

// consoleRefreshesOneAtATimeOnAHungConnection opens the console at u in
// a device of its own whose connection hangs (asked, never answered,
// never failed) and runs its clock through a minute in virtual time: the
// federation table is refreshed one request at a time, each given up
// after consoleFedWithin and said in the trust line, where a refresh was
// begun every five seconds and each hung, until the browser's few
// connections to the node were all taken and the operator's own calls
// (an enrolment, a status) queued behind them.
func consoleRefreshesOneAtATimeOnAHungConnection(t *testing.T, b *browser, u string) {
	tb := b.newTab(t, "console GD hung")
	tb.open(u)
	eval[bool](tb, `(() => { window.hcFed = 0; window.hcPending = 0; window.hcMostPending = 0;
		window.fetch = (u, o) => { if (String(u).endsWith("/v1/federation")) window.hcFed++;
			window.hcMostPending = Math.max(window.hcMostPending, ++window.hcPending);
			return new Promise((_, reject) => { if (o && o.signal) o.signal.addEventListener("abort", () => { window.hcPending--; reject(o.signal.reason); }); }); };
		return true; })()`)
	tb.runClock(time.Minute)
	if n, most := eval[int](tb, `window.hcFed`), eval[int](tb, `window.hcMostPending`); n < 3 || most != 1 {
		t.Errorf("in a minute of a hung connection the console asked for the federation %d times, at most %d at once; want at least 3, one at a time", n, most)
	}
	if got, want := tb.text("#trust-info"), en(t, "error.network"); got != want {
		t.Errorf("after refreshes that hung the console's trust line says %q, want %q", got, want)
	}
}

// walletCallWithin is the wallet's CALL_WITHIN (wallet.js).
const walletCallWithin = 20 * time.Second

// walletGivesUpOnAHungPoll opens the wallet at u in a phone of its own
// whose connection hangs (a dead connection after a move between cells:
// asked, never answered, never failed) and runs its clock through four
// times walletCallWithin in virtual time: each poll of the record of
// subjectID is given up, said as the network error, and polling goes on,
// where the first hung poll held every later one, and every refresh of
// the code, until the system gave up on it many minutes later.
func walletGivesUpOnAHungPoll(t *testing.T, b *browser, u, subjectID string) {
	tb := b.newTab(t, "wallet GD hung")
	tb.open(u)
	tb.waitJS("the QR", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	eval[bool](tb, fmt.Sprintf(`((path) => { window.hcPolls = 0;
		window.fetch = (u, o) => { if (String(u).endsWith(path)) window.hcPolls++;
			return new Promise((_, reject) => { if (o && o.signal) o.signal.addEventListener("abort", () => reject(o.signal.reason)); }); };
		return true; })(%q)`, "/v1/subjects/"+subjectID))
	tb.runClock(4 * walletCallWithin)
	if n := eval[int](tb, `window.hcPolls`); n < 3 {
		t.Errorf("in %v of a hung connection the wallet polled %d times, want at least 3: a hung poll is given up", 4*walletCallWithin, n)
	}
	if got, want := tb.text("#code-note"), en(t, "error.network"); got != want {
		t.Errorf("after polls that hung the wallet says %q, want %q", got, want)
	}
}
