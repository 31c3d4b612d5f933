package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/web"
)

// walletSaysAnExpiredCodeIsExpired takes the phone of the wallet in tb
// offline and moves its clock a day on, past its code's expiry: the
// refresh fails, and the wallet says the code expired, in a grey frame,
// and why (the network), where it went on showing the green frame and
// "Green" with "Valid for 0:00:00" under a dead code. Back online, with
// its clock right, it shows the status again.
func walletSaysAnExpiredCodeIsExpired(t *testing.T, tb *tab) {
	eval[bool](tb, `(() => { window.hcRealFetch = window.fetch; window.fetch = () => Promise.reject(new TypeError("offline"));
		window.hcRealNow = Date.now; Date.now = () => window.hcRealNow() + 25 * 3600 * 1000; return true; })()`)
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
