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
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/web"
)

// lookAgainJS is the resident looking at the wallet again, the page
// shown again (visibilitychange): the wallet polls at once.
const lookAgainJS = `document.dispatchEvent(new Event("visibilitychange"))`

// lookEvery is how often a step waiting for the wallet to see a change
// made at the node has the resident look at it again.
const lookEvery = 100 * time.Millisecond

// lookAgain has the resident look at the wallet in tb again.
func (tb *tab) lookAgain() {
	tb.t.Helper()
	tb.front()
	eval[bool](tb, "("+lookAgainJS+", true)")
}

// pollLooking waits until expr is true in the wallet in tb, the resident
// looking at it again until it is: a change at the node shows at the
// wallet's next poll, which it starts at once when looked at again, and
// the step does not wait for its interval (POLL_EVERY) to come round.
// walletPollsWhenLookedAtAgain shows both kinds of poll.
func (tb *tab) pollLooking(expr string) error {
	tb.front()
	return tb.pollThen(expr, lookAgainJS, lookEvery)
}

// waitLooking is waitJS for what the wallet in tb shows after a poll,
// the resident looking at it again until it does (pollLooking).
func (tb *tab) waitLooking(what, expr string) {
	tb.t.Helper()
	tb.front()
	tb.waitThen(what+", looked at again", expr, lookAgainJS, lookEvery)
}

// walletSaysAnExpiredCodeIsExpired takes the phone of the wallet in tb
// offline and moves its clock a day on, past its code's expiry: the
// refresh fails, and the wallet says the code expired, in a grey frame,
// and why (the network), where it went on showing the green frame and
// "Green" with "Valid for 0:00:00" under a dead code. Back online, with
// its clock right, it shows the status again.
func walletSaysAnExpiredCodeIsExpired(t *testing.T, tb *tab) {
	eval[bool](tb, offlineADayOnJS)
	restore := undoOnce(tb, `(() => { window.fetch = window.hcRealFetch; Date.now = window.hcRealNow; return true; })()`)
	defer restore()
	walletSaysNotValid(t, tb, "wallet.expired", "a day past its code's expiry, offline", tb.poll)
	restore()
	tb.waitJS("the status again", `document.getElementById("qr-frame").classList.contains("status-green") && document.getElementById("status-word").textContent === "Green"`)
}

// walletSaysNotValid waits (with wait: tb.poll, or tb.pollLooking for
// what a poll finds) until the wallet in tb says the code it shows is
// not valid (the catalogue's word), after what happened, in a frame
// other than green, and that it could not get another for the network.
func walletSaysNotValid(t *testing.T, tb *tab, word, what string, wait func(expr string) error) {
	t.Helper()
	if err := wait(fmt.Sprintf(`document.getElementById("status-word").textContent === %q`, en(t, word))); err != nil {
		t.Errorf("%s, the wallet shows %q in a frame of class %q, want %q",
			what, tb.text("#status-word"), eval[string](tb, `document.getElementById("qr-frame").className`), en(t, word))
	}
	if cls := eval[string](tb, `document.getElementById("qr-frame").className`); strings.Contains(cls, "status-green") {
		t.Errorf("%s, the code is framed as %q", what, cls)
	}
	tb.waitJS("the reason no new code came", fmt.Sprintf(`document.getElementById("code-note").textContent === %q`, en(t, "error.network")))
}

// undoOnce returns a function that runs js in tb the first time it is
// called and does nothing after: an undo both deferred and called.
func undoOnce(tb *tab, js string) func() {
	done := false
	return func() {
		if !done {
			done = true
			eval[bool](tb, js)
		}
	}
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

// walletPollEvery is the wallet's POLL_EVERY (wallet.js).
const walletPollEvery = 5 * time.Second

// slowNetworkLatency is the latency of a phone on a slow network: longer
// than the test takes between seeing a poll begin and releasing it.
const slowNetworkLatency = 300 * time.Millisecond

// holdPollsJS holds a wallet's polls: each GET of the record at the path
// given is counted in hcPolls, and its answer held until hcReleasePoll(),
// which answers every poll begun so far: one whose answer is still on
// its way from the node is answered as soon as it comes. (Releasing only
// the answers already in left a poll the node was slow to answer, under
// load, held for ever, and the wallet, which starts no poll while one is
// on its way, never polling again.)
const holdPollsJS = `((path) => {
	const real = window.fetch;
	window.hcPolls = 0; window.hcReleased = 0; window.hcHeld = [];
	window.fetch = (u, o) => {
		const p = real(u, o);
		if (((o && o.method) || "GET") !== "GET" || !String(u).endsWith(path)) return p;
		const n = ++window.hcPolls;
		return p.then((res) => n <= window.hcReleased ? res : new Promise((ok) => { window.hcHeld.push(() => ok(res)); }));
	};
	window.hcReleasePoll = () => { window.hcReleased = window.hcPolls; window.hcHeld.splice(0).forEach((f) => f()); return true; };
	return true;
})(%q)`

// walletPollsWhenLookedAtAgain opens the wallet at u in a phone of its
// own and holds the answers to its polls of the record of subjectID. Its
// clock run through two POLL_EVERYs (virtual time, then stopped) starts
// one poll: the interval's second waits for the first, unanswered. While
// it is, the page shown again, the network back and the page focused
// start none; once it is answered, each of them starts one at once (no
// interval runs on the stopped clock). A resident who looks at their
// phone sees the status of now, not of up to five seconds ago, and the
// node is never asked twice at once. The phone's network is slow
// (slowNetworkLatency), so that a poll is, as a rule, released while the
// node's answer to it is still on its way: the order that held a poll for
// ever under load, and fails this test with an hcReleasePoll that
// answers only the answers already in.
func walletPollsWhenLookedAtAgain(t *testing.T, b *browser, u, subjectID string) {
	tb := b.newTab(t, "wallet GD polls")
	tb.open(u)
	tb.waitJS("the QR", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	if _, err := chromedp.Call(tb.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Latency: float64(slowNetworkLatency.Milliseconds()), DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
		t.Fatalf("%s: slowing the network: %v", tb.name, err)
	}
	eval[bool](tb, fmt.Sprintf(holdPollsJS, "/v1/subjects/"+subjectID))
	polls := func() int { return eval[int](tb, `window.hcPolls`) }
	stretch := 2*walletPollEvery + time.Second
	tb.runClock(stretch)
	if n := polls(); n != 1 {
		t.Errorf("in %v, its first poll unanswered, the wallet began %d polls, want 1: its interval, and no other while that one is on its way", stretch, n)
	}
	triggers := []struct{ what, js string }{
		{"the page shown again", lookAgainJS},
		{"the network back", `window.dispatchEvent(new Event("online"))`},
		{"the page focused", `window.dispatchEvent(new Event("focus"))`},
	}
	all := ""
	for _, tr := range triggers {
		all += tr.js + "; "
	}
	if n := eval[int](tb, `(() => { const n = window.hcPolls; `+all+`return window.hcPolls - n; })()`); n != 0 {
		t.Errorf("with a poll unanswered, the page shown again, the network back and the page focused began %d more, want none", n)
	}
	for _, tr := range triggers {
		n := polls()
		eval[bool](tb, `window.hcReleasePoll()`)
		// Tried until the poll answered is done: only then may another begin.
		tb.waitThen("a poll at "+tr.what, fmt.Sprintf(`window.hcPolls > %d`, n), tr.js, 25*time.Millisecond)
		if got := polls(); got != n+1 {
			t.Errorf("%s began %d polls, want 1", tr.what, got-n)
		}
	}
	eval[bool](tb, `window.hcReleasePoll()`)
}

// walletStatusIsNotRewrittenAtEachPoll watches the wallet's status word,
// a live region, through two polls of the record of subjectID without a
// change of status: it is not written again, where each poll rewrote it
// and a screen reader said "Green" every five seconds.
func walletStatusIsNotRewrittenAtEachPoll(t *testing.T, tb *tab, subjectID string) {
	eval[bool](tb, `(() => { window.hcStatusWrites = 0;
		new MutationObserver((m) => { window.hcStatusWrites += m.length; }).observe(document.getElementById("status-word"), { childList: true, characterData: true, subtree: true });
		return true; })()`)
	walletPolls(t, tb, subjectID, 2)
	if n := eval[int](tb, `window.hcStatusWrites`); n != 0 {
		t.Errorf("the status word (a live region) was rewritten %d times in two polls without a change of status", n)
	}
}

// runClock runs the tab's clock d on in virtual time, firing its timers
// as fast as the page handles them (a call to the node on its way holds
// the clock until it is answered, as it would a real one), and leaves it
// stopped: a tab whose clock ran this way is not used for anything else.
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
		Policy: emulation.VirtualTimePolicyPauseIfNetworkFetchesPending, Budget: &budget}); err != nil {
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
	old := eval[string](tb, shownJTIJS)
	if st := d.call(i, "PUT", "/v1/subjects/"+subjectID+"/status", d.c.Tokens[i],
		map[string]string{"status": "green", "reason": "tested again"}, nil); st != http.StatusOK {
		t.Fatalf("PUT status green for a green resident: %d", st)
	}
	return walletShowsANewCode(t, d, i, tb, old, "the status was set again, revoking every live code",
		strings.ReplaceAll(en(t, "wallet.status_set_again"), "{status}", "Green"))
}

// shownJTIJS is the id of the code the wallet shows.
const shownJTIJS = `document.getElementById("qr").dataset.jti`

// walletShowsANewCode waits until the wallet in tb, green, shows a code
// other than old, withdrawn because of what happened (for the failure
// message), and checks that the new one verifies at province i as green
// and that the wallet says note. It returns the new code and its QR
// image.
func walletShowsANewCode(t *testing.T, d *demo, i int, tb *tab, old, what, note string) (string, []byte) {
	t.Helper()
	if err := tb.pollLooking(fmt.Sprintf(`%s !== %q`, shownJTIJS, old)); err != nil {
		t.Fatalf("%s, and the wallet still shows code %s, %q (%v)", what, old, tb.text("#status-word"), err)
	}
	png := tb.imagePNG("#qr")
	code := decodeQR(t, png)
	var v verification
	d.call(i, "POST", "/v1/verify", addScanner(t, d, i), map[string]string{"code": code}, &v)
	if !v.Valid || v.Status != "green" || tb.text("#status-word") != "Green" {
		t.Errorf("after %s the wallet shows %q and a code verifying as %+v", what, tb.text("#status-word"), v)
	}
	tb.waitJS("the reason for the new code", fmt.Sprintf(`document.getElementById("code-note").textContent === %q`, note))
	return code, png
}

// walletTakesANewCodeWhenItsKeyIsCompromised marks the signing key of
// code, the code the wallet in tb shows for the test resident of
// province i, compromised: every verifier refuses the code at once
// (key_compromised), nothing revokes it and the status stays as it was.
// The wallet watched the status alone, and went on showing the code,
// framed green, until it neared its expiry, while every checkpoint said
// Not valid. It must show a new code, of another key, saying why. It
// returns the new code and its QR image.
func walletTakesANewCodeWhenItsKeyIsCompromised(t *testing.T, d *demo, i, peer int, tb *tab, code string) (string, []byte) {
	old := eval[string](tb, shownJTIJS)
	kid := compromiseKeyOf(t, d, i, code)
	return walletShowsACodeOfAnotherKey(t, d, i, peer, tb, old, kid)
}

// compromiseKeyOf marks the key that signed code, of province i,
// compromised, checks that the code is refused for it and returns the
// key's id.
func compromiseKeyOf(t *testing.T, d *demo, i int, code string) string {
	t.Helper()
	kid := testkit.CodeKID(t, code)
	if st := d.call(i, "POST", "/v1/keys/"+kid+"/compromise", d.c.Tokens[i], nil, nil); st != http.StatusOK {
		t.Fatalf("compromise key %s: %d", kid, st)
	}
	var v verification
	if d.call(i, "POST", "/v1/verify", addScanner(t, d, i), map[string]string{"code": code}, &v); v.Valid || v.Reason != "key_compromised" {
		t.Fatalf("the wallet's code after its key was compromised verifies as %+v: this step checks nothing", v)
	}
	return kid
}

// walletShowsACodeOfAnotherKey waits until the wallet in tb shows a code
// other than old, of a key other than the compromised kid, saying why;
// the new code verifies in province peer too once the keyset naming the
// new key reaches it (the later steps scan it there). It returns the new
// code and its QR image.
func walletShowsACodeOfAnotherKey(t *testing.T, d *demo, i, peer int, tb *tab, old, kid string) (string, []byte) {
	t.Helper()
	// Its own sentence, not a revocation's: before, one sentence said
	// "revoked, or its signing key replaced", and the resident could not
	// tell which.
	fresh, png := walletShowsANewCode(t, d, i, tb, old, "the key of its code was compromised", en(t, "wallet.code_key_withdrawn"))
	if k := testkit.CodeKID(t, fresh); k == kid {
		t.Errorf("the new code is of the compromised key %s", k)
	}
	sc := addScanner(t, d, peer)
	poll(t, "the new code to verify in another province", func() error {
		var v verification
		if d.call(peer, "POST", "/v1/verify", sc, map[string]string{"code": fresh}, &v); !v.Valid {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	return fresh, png
}

// walletKeepsItsCodeThroughARotation retires the signing key of the
// wallet's code (a scheduled rotation): the code still verifies, and the
// wallet must keep it through its next polls rather than issue codes the
// resident did not need. The code then turns out to have been exposed:
// its key, retired, not active, is marked compromised, while the phone
// cannot get a new code (its requests for one fail). The wallet must stop
// showing the dead code as the status — it showed it framed green, saying
// Green — and show a new code once it can get one. It returns the new
// code and its QR image.
func walletKeepsItsCodeThroughARotation(t *testing.T, d *demo, i, peer int, tb *tab, subjectID, code string) (string, []byte) {
	old := eval[string](tb, shownJTIJS)
	if st := d.call(i, "POST", "/v1/keys/rotate", d.c.Tokens[i], nil, nil); st != http.StatusOK {
		t.Fatalf("rotate keys: %d", st)
	}
	walletPolls(t, tb, subjectID, 2)
	if got := eval[string](tb, shownJTIJS); got != old {
		t.Errorf("the wallet replaced code %s, of a key retired by a rotation and still valid, by %s", old, got)
	}
	eval[bool](tb, `(() => { window.hcRealFetch = window.fetch;
		window.fetch = (u, o) => (o && o.method === "POST" && String(u).endsWith("/codes")) ? Promise.reject(new TypeError("offline")) : window.hcRealFetch(u, o);
		return true; })()`)
	unblock := undoOnce(tb, `(() => { window.fetch = window.hcRealFetch; return true; })()`)
	defer unblock()
	kid := compromiseKeyOf(t, d, i, code)
	walletSaysNotValid(t, tb, "wallet.withdrawn", "the key of the wallet's code was compromised and no new code could be fetched", tb.pollLooking)
	unblock()
	return walletShowsACodeOfAnotherKey(t, d, i, peer, tb, old, kid)
}

// walletPolls waits until the wallet in tb has polled the record of
// subjectID n more times, the resident looking at it again meanwhile:
// until it has asked for the record n+1 times, the last poll begun after
// the n before it were done (one poll at a time).
func walletPolls(t *testing.T, tb *tab, subjectID string, n int) {
	t.Helper()
	path := "/v1/subjects/" + subjectID
	from := tb.requestsTo(path)
	poll(t, fmt.Sprintf("%d polls of the wallet", n), func() error {
		if got := tb.requestsTo(path) - from; got < n+1 {
			tb.lookAgain()
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
}
