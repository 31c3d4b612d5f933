package web_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrongIDNumber is a well-formed ID number that is not the test resident's.
const wrongIDNumber = "440106199001011234"

// lostPhone drives the console's new wallet link for the test resident of
// province i, whose phone (and the link on it, oldURL) was lost: a wrong
// ID number is refused with the catalogue's sentence and leaves the old
// link working; the resident's own gives a new link, shown as a QR, that
// opens a wallet with a code the node accepts on newPhone, while the old
// link opens the unauthorized page on oldPhone and the code oldPhone
// showed is refused as revoked (a finder of the phone could show it
// until it expired). It returns the new link.
// Not a t.Helper: a failure names its line here.
func lostPhone(t *testing.T, d *demo, i int, console, oldPhone, newPhone *tab, subjectID, oldURL string) string {
	oldToken, ok := strings.CutPrefix(oldURL, d.url(i)+"/wallet#token=")
	if !ok {
		t.Fatalf("wallet link %q", oldURL)
	}
	console.setValue("#subject-id", subjectID)
	console.click(`#find-form button[type="submit"]`)
	console.waitJS("the resident record", `!document.getElementById("subject").hidden`)
	if rec := console.text("#subject-record"); strings.Contains(rec, "field.") {
		t.Errorf("the record names a field by its catalogue key: %q", rec)
	}
	console.click("#token-start")
	if w := console.text("#token-warning"); eval[bool](console, `document.getElementById("token-form").hidden`) ||
		!strings.Contains(w, "stops working at once") || !strings.Contains(w, "revoked at every province") || !strings.Contains(w, "paper codes stay valid") {
		t.Errorf("before making a new link the console says %q; want what it does: the old link and the phone's codes stop, paper codes stay valid", w)
	}
	shown := decodeQR(t, oldPhone.imagePNG("#qr"))
	live, err := d.c.Nodes[i].DB.LivePhoneCodes(t.Context(), subjectID, time.Now(), 100)
	if err != nil || len(live) == 0 {
		t.Fatalf("the lost phone's live codes: %v, %v; want at least the one it shows", live, err)
	}

	console.setValue("#tk-id", wrongIDNumber)
	console.click(`#token-form button[type="submit"]`)
	console.waitJS("the refusal", fmt.Sprintf(`document.getElementById("token-result").textContent === %q`, en(t, "console.token_forbidden")))
	if v := eval[string](console, `document.getElementById("tk-id").value`); v != "" {
		t.Errorf("after the call the ID number stays in the field: %q", v)
	}
	if !eval[bool](console, `document.getElementById("token-new").hidden`) {
		t.Errorf("a refused ID number shows a wallet link")
	}
	if st := d.call(i, "GET", "/v1/whoami", oldToken, nil, nil); st != http.StatusOK {
		t.Fatalf("after a wrong ID number the old wallet link answers %d, want 200 (nothing was replaced)", st)
	}

	console.setValue("#tk-id", testID)
	console.click(`#token-form button[type="submit"]`)
	console.waitJS("the new wallet link", `!document.getElementById("token-new").hidden && document.getElementById("token-qr").naturalWidth > 0`)
	newURL := console.text("#token-link")
	if got := decodeQR(t, console.imagePNG("#token-qr")); got != newURL {
		t.Fatalf("the new wallet link QR reads %q, the link is %q", got, newURL)
	}
	if !strings.HasPrefix(newURL, d.url(i)+"/wallet#token=") || newURL == oldURL {
		t.Fatalf("new wallet link %q (old %q)", newURL, oldURL)
	}
	if got, want := console.text("#token-result"), strings.Replace(en(t, "console.token_done"), "{n}", strconv.Itoa(len(live)), 1); got != want {
		t.Errorf("after the new link the console says %q, want %q", got, want)
	}
	// The ID number left the page with the call: not in a field, the DOM,
	// storage or the address bar.
	if strings.Contains(console.contents(), testID) || strings.Contains(eval[string](console, `location.href`), testID) {
		t.Errorf("the console keeps the ID number after the call")
	}

	oldPhone.open(oldURL)
	if h, p := oldPhone.text("#fatal h2"), oldPhone.text("#fatal p"); h != en(t, "fatal.bad_link_title") || p != en(t, "fatal.bad_link") {
		t.Errorf("the lost phone's link opens %q / %q, want the unauthorized page", h, p)
	}
	// Whoever has the lost phone finds nothing of the resident's wallet in
	// it: the token went, and the code kept beside it (the resident's id,
	// the code's id) with it.
	for _, k := range oldPhone.storageKeys() {
		if strings.HasPrefix(k, "local:hcfed.wallet.") {
			t.Errorf("the lost phone keeps %s after its link was refused", k)
		}
	}

	sc := addScanner(t, d, i)
	var lost verification
	if d.call(i, "POST", "/v1/verify", sc, map[string]string{"code": shown}, &lost); lost.Valid || lost.Reason != "revoked" {
		t.Errorf("the code the lost phone showed verifies as %+v after the new link, want revoked", lost)
	}

	newPhone.open(newURL)
	newPhone.waitJS("the QR", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	var v verification
	d.call(i, "POST", "/v1/verify", sc, map[string]string{"code": decodeQR(t, newPhone.imagePNG("#qr"))}, &v)
	if !v.Valid || v.MaskedName != testMasked || newPhone.text("#status-word") != "Green" {
		t.Fatalf("the new phone's wallet shows %q and a code verifying as %+v", newPhone.text("#status-word"), v)
	}
	return newURL
}

// enrolledLeaves checks that the wallet link of the resident just
// enrolled (their key to their wallet: it reads their record, files
// appeals, deletes them) leaves the console's page when the operator
// moves on: another resident opened, the next enrolment begun. It stayed
// on the screen and in the DOM, as a QR, for whoever came to the counter
// next.
func enrolledLeaves(t *testing.T, console *tab, walletURL string) {
	token := walletURL[strings.Index(walletURL, "token=")+len("token="):]
	gone := func(after string) {
		t.Helper()
		if eval[bool](console, `!document.getElementById("enrolled").hidden || !!document.getElementById("wallet-qr").getAttribute("src")`) {
			t.Errorf("after %s the enrolment's wallet QR is still shown", after)
		}
		if strings.Contains(console.contents(), token) {
			t.Errorf("after %s the console still holds the enrolled resident's wallet token", after)
		}
	}
	// consoleResultsFollowTheLanguage opened another resident (not found).
	gone("another resident was asked for")
	console.setValue("#en-name", "王")
	gone("the next enrolment began")
	console.setValue("#en-name", "")
}

// badLinkLeavesTheDevicesToken opens, on a device whose page (page:
// "/wallet", "/scan") works from the token it keeps, links the node
// refuses — an unknown token, and otherRole's, a token of another role —
// and then the page without a link: each bad link explains itself, and
// the page still opens with the device's own token (ready: a script true
// once it shows what that token reaches). A link's token replaced the
// kept one before the node had checked it, and was then forgotten with
// it: one bad link, sent round or posted as a QR at a checkpoint, took
// every phone that opened it out of its wallet (and a checkpoint's
// device out of its scanner) until a service point made a new link.
func badLinkLeavesTheDevicesToken(t *testing.T, tb *tab, base, page, otherRole, ready string) {
	for _, c := range []struct{ what, token string }{{"an unknown token", "hct_not-a-real-token"}, {"another role's token", otherRole}} {
		tb.open(base + page + "#token=" + c.token)
		if got := tb.text("#fatal h2"); got != en(t, "fatal.bad_link_title") {
			t.Errorf("%s#token=<%s> opens %q, want %q", page, c.what, got, en(t, "fatal.bad_link_title"))
		}
		tb.open(base + page)
		if err := tb.poll(ready); err != nil {
			t.Fatalf("after a link with %s, %s opened again shows %q (%v), want what the device's own token reaches",
				c.what, page, tb.text("#fatal"), err)
		}
	}
}

// operatorConsoleRotatesNoKeys: the node refuses a key rotation to an
// operator account that is no admin (admin_required), so that account's
// console says rotation needs an admin instead of offering a button that
// fails; the admin's console (the demo's token) offers it.
func operatorConsoleRotatesNoKeys(t *testing.T, b *browser, d *demo, i int, adminConsole *tab) {
	var clerk struct {
		Token string `json:"token"`
	}
	if st := d.call(i, "POST", "/v1/accounts", d.c.Tokens[i], map[string]string{"name": "desk-clerk", "role": "operator"}, &clerk); st != http.StatusCreated {
		t.Fatalf("create an operator account: HTTP %d", st)
	}
	console := b.newTab(t, "console of an operator")
	console.open(d.url(i) + "/console#token=" + clerk.Token)
	console.waitJS("the keys section for an operator", `!document.getElementById("rotate-admin-only").hidden && document.getElementById("rotate-btn").hidden`)
	if got, want := console.text("#rotate-admin-only"), en(t, "console.rotate_admin_only"); got != want {
		t.Errorf("the operator's keys section says %q, want %q", got, want)
	}
	adminConsole.waitJS("the keys section for the admin", `!document.getElementById("rotate-btn").hidden && document.getElementById("rotate-admin-only").hidden`)
}
