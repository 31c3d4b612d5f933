package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// enrolForLink enrols a resident at province i through the API and
// returns their id and wallet link.
func enrolForLink(t *testing.T, d *demo, i int, name, idNumber string) (id, walletURL string) {
	t.Helper()
	var e struct {
		ID        string `json:"id"`
		WalletURL string `json:"wallet_url"`
	}
	if st := d.call(i, "POST", "/v1/subjects", d.c.Tokens[i], map[string]any{"name": name, "id_number": idNumber,
		"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}, &e); st != http.StatusCreated {
		t.Fatalf("enrol: %d", st)
	}
	return e.ID, e.WalletURL
}

// keptToken is the token a page keeps on the device under key.
func keptToken(tb *tab, key string) string {
	return eval[string](tb, fmt.Sprintf(`localStorage.getItem(%q) || ""`, key))
}

// askedToReplace opens link on tb, whose device keeps another owner's
// token under key, and checks that the page asks before replacing it —
// the device's token kept meanwhile, nothing of the link's owner (hide:
// what must not show) on the page — and answers with button.
func askedToReplace(t *testing.T, tb *tab, link, key, kept, button string, hide ...string) {
	t.Helper()
	tb.open(link)
	if !eval[bool](tb, `!!document.getElementById("replace") && document.getElementById("main").hidden`) {
		t.Fatalf("%s: another owner's link opened without asking whether to replace the device's", tb.name)
	}
	if got := keptToken(tb, key); got != kept {
		t.Errorf("%s: while the page asks, the device keeps %q, want its own token", tb.name, got)
	}
	for _, s := range hide {
		if strings.Contains(tb.contents(), s) {
			t.Errorf("%s: the question shows %q of the link's owner", tb.name, s)
		}
	}
	tb.click(button)
	tb.waitJS("the page to settle after the answer", `document.body.dataset.ready === "1"`)
}

// anotherResidentsLinkAsksFirst walks a phone holding one resident's
// wallet that opens another resident's link (passed round, a family
// member's): it silently became the other resident's wallet. Now it asks;
// keep leaves the wallet it held, its code and link; replace gives the
// other resident's; the same link again asks nothing.
func anotherResidentsLinkAsksFirst(t *testing.T, b *browser, d *demo, i int) {
	const key, qr = "hcfed.wallet.token", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`
	_, mine := enrolForLink(t, d, i, "赵六", testkit.IDNumber("440106199004", 1))
	theirID, theirs := enrolForLink(t, d, i, "钱七", testkit.IDNumber("440106199004", 2))
	myToken, theirToken := mine[strings.Index(mine, "token=")+6:], theirs[strings.Index(theirs, "token=")+6:]
	phone := b.newTab(t, "wallet GD family phone")
	phone.open(mine)
	phone.waitJS("the QR", qr)
	jti := eval[string](phone, `document.getElementById("qr").dataset.jti`)

	askedToReplace(t, phone, theirs, key, myToken, "#replace-keep", "钱", theirID)
	phone.waitJS("the wallet kept", qr+` && document.getElementById("masked-name").textContent === "赵*"`)
	if got := eval[string](phone, `document.getElementById("qr").dataset.jti`); got != jti {
		t.Errorf("kept, the wallet shows code %s, want the one it showed, %s", got, jti)
	}
	if got := keptToken(phone, key); got != myToken {
		t.Errorf("kept, the phone keeps %q, want its own token", got)
	}

	askedToReplace(t, phone, theirs, key, myToken, "#replace-yes")
	phone.waitJS("the other resident's wallet", qr+` && document.getElementById("masked-name").textContent === "钱*"`)
	if got := keptToken(phone, key); got != theirToken {
		t.Errorf("replaced, the phone keeps %q, want the link's token", got)
	}
	phone.open(theirs)
	phone.waitJS("the same wallet, unasked", qr+` && document.getElementById("masked-name").textContent === "钱*" && !document.getElementById("replace")`)
}

// anotherScannersLinkAsksFirst is anotherResidentsLinkAsksFirst for a
// checkpoint's device: another scanner's registration link silently took
// its place, and the checks made there were recorded as the other
// scanner's.
func anotherScannersLinkAsksFirst(t *testing.T, b *browser, d *demo, i int) {
	const key, ready = "hcfed.scanner.token", `!document.getElementById("main").hidden`
	own, other := addScanner(t, d, i), addScanner(t, d, i)
	dev := b.newTab(t, "scanner device")
	dev.open(d.url(i) + "/scan#token=" + own)
	dev.waitJS("the scanner", ready)
	askedToReplace(t, dev, d.url(i)+"/scan#token="+other, key, own, "#replace-keep")
	dev.waitJS("the scanner kept", ready)
	if got := keptToken(dev, key); got != own {
		t.Errorf("kept, the device keeps %q, want its own token", got)
	}
	askedToReplace(t, dev, d.url(i)+"/scan#token="+other, key, own, "#replace-yes")
	dev.waitJS("the other scanner", ready)
	if got := keptToken(dev, key); got != other {
		t.Errorf("replaced, the device keeps %q, want the link's token", got)
	}
}
