package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// walletAndConsoleSayAStatusUnconfirmedSinceARestore enrols a resident
// at province i with a wallet open in a phone of its own, then does to
// the node what reconciling a restored database does when a revocation
// published after the backup names the resident's code (the status was
// set after the backup): the wallet stops showing the code and the
// colour held, and tells the resident to contact the health authority;
// the console tells the operator to set the status again. Set again from
// the console to the status shown, which it sends without asking, the
// wallet shows a new code.
func walletAndConsoleSayAStatusUnconfirmedSinceARestore(t *testing.T, b *browser, d *demo, i int, console *tab) {
	var e struct {
		ID        string `json:"id"`
		WalletURL string `json:"wallet_url"`
	}
	if st := d.call(i, "POST", "/v1/subjects", d.c.Tokens[i], map[string]any{"name": "王五", "id_number": testkit.IDNumber("440106199003", 1),
		"consent": map[string]any{"notice_version": config.NoticeVersion, "accepted": true}}, &e); st != http.StatusCreated {
		t.Fatalf("enrol: %d", st)
	}
	const jtiJS = `document.getElementById("qr").dataset.jti`
	w := b.newTab(t, "wallet GD restored")
	w.open(e.WalletURL)
	w.waitJS("the QR", jtiJS+` && document.getElementById("qr").naturalWidth > 0`)
	jti := eval[string](w, jtiJS)

	db := d.c.Nodes[i].DB
	last, err := db.LastRevocationSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.AdoptPublished(t.Context(), []store.Published{{Seq: last + 1,
		Entries: []store.RevocationEntry{{JTI: jti, Expires: time.Now().Add(24 * time.Hour)}}}}, time.Now())
	if err != nil || a.Residents != 1 {
		t.Fatalf("adoption %+v, %v: want the resident held", a, err)
	}

	w.waitLooking("the wallet to say the status is to be confirmed", fmt.Sprintf(
		`document.getElementById("status-word").textContent === %q && !(%s) && document.getElementById("code-note").textContent === %q`,
		en(t, "status.unconfirmed"), jtiJS, en(t, "wallet.status_unconfirmed")))
	if cls := eval[string](w, `document.getElementById("qr-frame").className`); strings.Contains(cls, "status-green") {
		t.Errorf("a status to be confirmed is framed as %q", cls)
	}
	if !eval[bool](w, `document.getElementById("delete-start").disabled`) {
		t.Error("the wallet offers deletion while the status is to be confirmed")
	}

	console.setValue("#subject-id", e.ID)
	console.click(`#find-form button[type="submit"]`)
	console.waitJS("the record", `!document.getElementById("subject").hidden`)
	if rec := console.text("#subject-record"); !strings.Contains(rec, en(t, "console.status_unconfirmed")) {
		t.Errorf("the console's record of a held resident does not say what to do: %q", rec)
	}

	// Set again to the status shown, as the console asks: routine after a
	// restore, so it is sent without a question.
	sets := console.requestsTo("/status")
	console.setValue("#st-reason", "confirmed after the restore")
	console.click(`#status-form button[type="submit"]`)
	if !eval[bool](console, `document.getElementById("status-confirm").hidden`) {
		t.Errorf("setting the status to be confirmed to the one shown asks %q", console.text("#status-confirm-text"))
	}
	console.waitJS("the status set again", fmt.Sprintf(`document.getElementById("subject-result").textContent === %q`, en(t, "console.status_done")))
	if n := console.requestsTo("/status") - sets; n != 1 {
		t.Errorf("the status set again was sent %d times, want once", n)
	}
	w.waitLooking("a new code once the status is set again", fmt.Sprintf(
		`(%s) && (%s) !== %q && document.getElementById("status-word").textContent === "Green"`, jtiJS, jtiJS, jti))
}
