package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hcfed/hcfed/node/web"
)

// walletSaysAnExpiredCodeIsExpired takes the phone of the wallet in tb
// offline and moves its clock a day on, past its code's expiry: the
// refresh fails, and the wallet says the code expired, in a grey frame,
// and why (the network), where it went on showing the green frame and
// "Green" with "Valid for 0:00:00" under a dead code. Back online, with
// its clock right, it shows the status again.
func walletSaysAnExpiredCodeIsExpired(t *testing.T, tb *tab) {
	eval[bool](tb, offlineADayOnJS)
	restored := false
	restore := func() {
		if !restored {
			restored = true
			eval[bool](tb, `(() => { window.fetch = window.hcRealFetch; Date.now = window.hcRealNow; return true; })()`)
		}
	}
	defer restore()
	if err := tb.poll(fmt.Sprintf(`document.getElementById("status-word").textContent === %q`, en(t, "wallet.expired"))); err != nil {
		t.Errorf("a day past its code's expiry, offline, the wallet shows %q in a frame of class %q, want %q",
			tb.text("#status-word"), eval[string](tb, `document.getElementById("qr-frame").className`), en(t, "wallet.expired"))
	}
	if cls := eval[string](tb, `document.getElementById("qr-frame").className`); strings.Contains(cls, "status-green") {
		t.Errorf("the expired code is framed as %q", cls)
	}
	tb.waitJS("the reason the code was not refreshed", fmt.Sprintf(`document.getElementById("code-note").textContent === %q`, en(t, "error.network")))
	restore()
	tb.waitJS("the status again", `document.getElementById("qr-frame").classList.contains("status-green") && document.getElementById("status-word").textContent === "Green"`)
}

// offlineADayOnJS takes a phone offline (every call fails before the
// node, and is counted in hcCalls, "METHOD url") and moves its clock a
// day on, past its code's expiry; hcRealFetch and hcRealNow undo it.
const offlineADayOnJS = `(() => { window.hcCalls = []; window.hcRealFetch = window.fetch;
	window.fetch = (u, o) => { window.hcCalls.push(((o && o.method) || "GET") + " " + u); return Promise.reject(new TypeError("offline")); };
	window.hcRealNow = Date.now; Date.now = () => window.hcRealNow() + 25 * 3600 * 1000; return true; })()`

// Offline wallet: the stretch of virtual time it is watched for, and the
// most calls to the node it may make in it (refreshing its expired code
// and polling its record, each waiting 1 s doubling to a minute after a
// failure: about 16 and 15). It made 720, one refresh every second and
// one poll every five.
const (
	offlineStretch  = 10 * time.Minute
	maxOfflineCalls = 40
)

// walletBacksOffWhileOffline opens the wallet at u in a phone of its own,
// takes it offline a day on, past its code's expiry, and runs its clock
// (virtual time: timers fire without waiting) through offlineStretch: it
// calls the node at most maxOfflineCalls times, where it tried to refresh
// the code every second, and writes its note (a live region) once, where
// it rewrote it at each failure. When the network is back it calls again
// at once. The phone's clock stays stopped: the tab is for this alone.
func walletBacksOffWhileOffline(t *testing.T, b *browser, u string) {
	tb := b.newTab(t, "wallet GD offline")
	tb.open(u)
	tb.waitJS("the QR", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	eval[bool](tb, `(() => { window.hcNoteWrites = 0;
		new MutationObserver((m) => { window.hcNoteWrites += m.length; }).observe(document.getElementById("code-note"), { childList: true, characterData: true, subtree: true });
		return true; })()`)
	eval[bool](tb, offlineADayOnJS)
	tb.runClock(offlineStretch)
	calls := eval[[]string](tb, `window.hcCalls`)
	refreshes := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "POST ") && strings.HasSuffix(c, "/codes") {
			refreshes++
		}
	}
	t.Logf("offline for %v the wallet called the node %d times, %d of them to refresh its code", offlineStretch, len(calls), refreshes)
	if len(calls) > maxOfflineCalls || refreshes < 5 {
		t.Errorf("offline for %v the wallet called the node %d times (%d refreshes), want at most %d, and refreshes still tried",
			offlineStretch, len(calls), refreshes, maxOfflineCalls)
	}
	if n, note := eval[int](tb, `window.hcNoteWrites`), tb.text("#code-note"); n > 1 || note != en(t, "error.network") {
		t.Errorf("offline, the wallet wrote its note %d times and it reads %q, want once: %q", n, note, en(t, "error.network"))
	}

	eval[bool](tb, `(() => { window.hcCalls = []; window.dispatchEvent(new Event("online")); return true; })()`)
	tb.runClock(5 * time.Second)
	if n := len(eval[[]string](tb, `window.hcCalls.filter((c) => c.startsWith("POST "))`)); n < 2 {
		t.Errorf("in 5 s after the network came back the wallet tried %d times to refresh its code, want at once and again after 1 s", n)
	}
}

// walletStatusIsNotRewrittenAtEachPoll watches the wallet's status word,
// a live region, through two polls of the resident's record (pollURL)
// without a change of status: it is not written again, where each poll
// rewrote it and a screen reader said "Green" every five seconds.
func walletStatusIsNotRewrittenAtEachPoll(t *testing.T, tb *tab, pollURL string) {
	eval[bool](tb, `(() => { window.hcStatusWrites = 0;
		new MutationObserver((m) => { window.hcStatusWrites += m.length; }).observe(document.getElementById("status-word"), { childList: true, characterData: true, subtree: true });
		return true; })()`)
	polls := func() int {
		n := 0
		for _, u := range tb.requests() {
			if u == pollURL {
				n++
			}
		}
		return n
	}
	n0 := polls()
	poll(t, "two polls of the record", func() error {
		if n := polls(); n < n0+2 {
			return fmt.Errorf("%d polls of %s", n-n0, pollURL)
		}
		return nil
	})
	if n := eval[int](tb, `window.hcStatusWrites`); n != 0 {
		t.Errorf("the status word (a live region) was rewritten %d times in two polls without a change of status", n)
	}
}

// runClock runs the tab's clock d on in virtual time, firing its timers
// as fast as the page handles them, and leaves it stopped: a tab whose
// clock ran this way is not used for anything else.
func (tb *tab) runClock(d time.Duration) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, pageTimeout)
	defer cancel()
	expired := make(chan struct{})
	var once sync.Once
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*emulation.EventVirtualTimeBudgetExpired); ok {
			once.Do(func() { close(expired) })
		}
	}); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
	budget := float64(d.Milliseconds())
	if _, err := chromedp.Call(ctx, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{
		Policy: emulation.VirtualTimePolicyAdvance, Budget: &budget}); err != nil {
		tb.t.Fatalf("%s: running the clock: %v", tb.name, err)
	}
	select {
	case <-expired:
	case <-ctx.Done():
		tb.t.Fatalf("%s: the clock did not run %v in %v", tb.name, d, pageTimeout)
	}
}

// walletHoldsDeletionWhileNotGreen checks the wallet of a resident whose
// status is red: the node refuses their own deletion (status_held), and
// the wallet says so beside the delete button, which it disables, rather
// than letting them find out by trying; a deletion asked for anyway (the
// status changed since the wallet's last poll) is refused in words, beside
// the button, in the language of the page.
func walletHoldsDeletionWhileNotGreen(t *testing.T, tb *tab) {
	t.Helper()
	tb.waitJS("the hold beside the delete button", `!document.getElementById("delete-held").hidden && document.getElementById("delete-start").disabled`)
	if got := tb.text("#delete-held"); got != en(t, "wallet.delete_held") {
		t.Errorf("beside the delete button: %q, want %q", got, en(t, "wallet.delete_held"))
	}
	eval[bool](tb, `document.getElementById("delete-yes").click(), true`)
	tb.waitJS("the refusal", `document.getElementById("delete-result").textContent !== ""`)
	for _, lang := range []string{web.LangZH, web.LangEN} {
		tb.switchLang(lang)
		if got, want := tb.text("#delete-result"), msg(t, lang, "error.status_held"); !strings.HasPrefix(got, want) {
			t.Errorf("in %s the refused deletion reads %q, want it to start with %q", lang, got, want)
		}
	}
	if !eval[bool](tb, `document.getElementById("fatal").hidden && !document.getElementById("main").hidden`) {
		t.Errorf("the wallet ended after a refused deletion")
	}
}

// walletTakesANewCodeWhenTheStatusIsSetAgain sets the test resident of
// province i, whose wallet tb shows a green code, green again: the node
// revokes every live code at each setting of a status, and the wallet
// must show a new code that verifies, saying why. It compared only the
// colour between two polls, and went on showing the revoked code, framed
// green, until it neared its expiry: the checkpoint said Not valid to a
// resident whose phone said Green. A status changed and changed back
// between two polls did the same. It returns the new code and its QR
// image.
func walletTakesANewCodeWhenTheStatusIsSetAgain(t *testing.T, d *demo, i int, tb *tab, subjectID string) (string, []byte) {
	const jtiJS = `document.getElementById("qr").dataset.jti`
	old := eval[string](tb, jtiJS)
	if st := d.call(i, "PUT", "/v1/subjects/"+subjectID+"/status", d.c.Tokens[i],
		map[string]string{"status": "green", "reason": "tested again"}, nil); st != http.StatusOK {
		t.Fatalf("PUT status green for a green resident: %d", st)
	}
	if err := tb.poll(fmt.Sprintf(`%s !== %q`, jtiJS, old)); err != nil {
		t.Fatalf("the status was set again, revoking every live code, and the wallet still shows code %s, %q (%v)",
			old, tb.text("#status-word"), err)
	}
	png := tb.imagePNG("#qr")
	code := decodeQR(t, png)
	var v verification
	d.call(i, "POST", "/v1/verify", addScanner(t, d, i), map[string]string{"code": code}, &v)
	if !v.Valid || v.Status != "green" || tb.text("#status-word") != "Green" {
		t.Errorf("after the status was set again the wallet shows %q and a code verifying as %+v", tb.text("#status-word"), v)
	}
	want := strings.ReplaceAll(en(t, "wallet.status_set_again"), "{status}", "Green")
	tb.waitJS("the reason for the new code", fmt.Sprintf(`document.getElementById("code-note").textContent === %q`, want))
	return code, png
}
