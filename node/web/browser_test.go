package web_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/web"
)

// The test resident. The ID number carries a valid GB 11643 check character.
const (
	testName   = "李四光"
	testID     = "11010519491231002X"
	testMasked = "李*"
)

// resultShowFor is how long the scanner's result shows before it clears
// by itself (scan.js SHOW_FOR); resultShownAtMost is that and a margin.
const (
	resultShowFor     = 5 * time.Second
	resultShownAtMost = resultShowFor + time.Second
)

// Page weight limits, transferred bytes of a cold load (issue 10).
const (
	maxWalletBytes  = 150 << 10
	maxConsoleBytes = 150 << 10
	maxScanBytes    = 400 << 10
)

// en is the catalogue's English message key.
func en(t *testing.T, key string) string {
	t.Helper()
	return msg(t, web.LangEN, key)
}

// TestPagesInChromiumAgainstADemoFederation drives the three pages the way
// their users would, in headless Chromium, against a real federation of
// three provinces (embedded NATS, SQLite): an operator in Guangdong enrols
// a resident, the resident's phone opens the wallet from the enrolment
// link, a scanner registered in Shanghai checks the code by paste and by
// camera, the operator sets the resident red, and bad links explain
// themselves. One federation and one browser serve every step.
func TestPagesInChromiumAgainstADemoFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	browserStarted := launchBrowser(t)
	d := startDemo(t)
	b := browserStarted()
	const gd, sh = 0, 1
	weights := map[string]load{}

	// The operator console in Guangdong: enrol with the consent screen.
	console := b.newTab(t, "console GD")
	weights["console"] = console.open(d.url(gd) + "/console#token=" + d.c.Tokens[gd])
	if h := eval[string](console, `location.hash`); h != "" {
		t.Errorf("console kept the token in the address bar: %q", h)
	}
	if !strings.Contains(console.text("#consent-notice"), "health code") || !strings.Contains(console.text("#consent-version"), config.NoticeVersion) {
		t.Errorf("consent screen does not show the notice and its version: %q / %q", console.text("#consent-notice"), console.text("#consent-version"))
	}
	console.setValue("#en-name", testName)
	console.setValue("#en-id", testID)
	console.click("#en-consent")
	console.click(`#enrol-form button[type="submit"]`)
	console.waitJS("the enrolment result", `!document.getElementById("enrolled").hidden && document.getElementById("wallet-qr").naturalWidth > 0`)
	walletURL := console.text("#wallet-link")
	subjectID := console.text("#enrolled-id")
	if got := decodeQR(t, console.imagePNG("#wallet-qr")); got != walletURL {
		t.Fatalf("the wallet link QR reads %q, the link is %q", got, walletURL)
	}
	if !strings.HasPrefix(walletURL, d.url(gd)+"/wallet#token=") {
		t.Fatalf("wallet link %q does not carry the token in the fragment of this node's wallet", walletURL)
	}

	t.Run("console result sentences follow a language switch", func(t *testing.T) { consoleResultsFollowTheLanguage(t, console) })

	t.Run("the enrolment's wallet link leaves the console once the operator moves on", func(t *testing.T) {
		enrolledLeaves(t, console, walletURL)
	})

	t.Run("console lists all three provinces with their versions", func(t *testing.T) {
		var v struct {
			Members []struct {
				ID            string `json:"id"`
				KeysetVersion uint64 `json:"keyset_version"`
			} `json:"members"`
		}
		d.call(gd, "GET", "/v1/federation", "", nil, &v)
		for _, m := range v.Members {
			sel := fmt.Sprintf(`#fed-table tr[data-province="%s"]`, m.ID)
			console.waitJS("row of "+m.ID, fmt.Sprintf(`!!document.querySelector(%q)`, sel))
			if row := console.text(sel); !strings.Contains(row, fmt.Sprintf("v%d", m.KeysetVersion)) || !strings.Contains(row, "fresh") || !strings.Contains(row, "1 active") {
				t.Errorf("row of %s: %q, want keyset v%d, one active key and fresh", m.ID, row, m.KeysetVersion)
			}
		}
		if n := eval[int](console, `document.querySelectorAll("#fed-table tbody tr").length`); n != 3 {
			t.Errorf("federation table has %d rows, want 3", n)
		}
		if tl := console.text("#trust-info"); !strings.Contains(tl, "trust list v1") {
			t.Errorf("trust list line %q", tl)
		}
	})

	t.Run("console form rows wrap at 180 px wide", func(t *testing.T) { inlineFormsFitNarrow(t, console) })

	t.Run("console refreshes the federation one request at a time on a hung connection", func(t *testing.T) {
		consoleRefreshesOneAtATimeOnAHungConnection(t, b, d.url(gd)+"/console#token="+d.c.Tokens[gd])
	})
	t.Run("an operator account's console offers no key rotation", func(t *testing.T) { operatorConsoleRotatesNoKeys(t, b, d, gd, console) })
	t.Run("English shown for want of a translation says it is English, in a zh-CN page", func(t *testing.T) {
		englishFallbackSaysItsLanguage(t, console)
	})
	t.Run("signing out of the console forgets the operator token, which stays valid", func(t *testing.T) {
		consoleSignsOut(t, d, gd, console, subjectID)
	})

	// The resident's phone opens the wallet from the link.
	wallet := b.newTab(t, "wallet GD")
	weights["wallet"] = wallet.open(walletURL)
	wallet.waitJS("the QR", `document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	qrPNG := wallet.imagePNG("#qr")
	code := decodeQR(t, qrPNG)
	t.Run("wallet QR decodes to a code the node accepts", func(t *testing.T) {
		if !strings.HasPrefix(code, "HCF1:") {
			t.Fatalf("wallet QR reads %q", code)
		}
		sc := addScanner(t, d, gd)
		var v verification
		d.call(gd, "POST", "/v1/verify", sc, map[string]string{"code": code}, &v)
		if !v.Valid || v.Status != "green" || v.MaskedName != testMasked {
			t.Fatalf("POST /v1/verify of the wallet's code: %+v", v)
		}
		if got := wallet.text("#status-word"); got != "Green" {
			t.Errorf("wallet status word %q, want Green", got)
		}
		if got := wallet.text("#masked-name"); got != testMasked {
			t.Errorf("wallet masked name %q", got)
		}
		if !strings.Contains(wallet.text("#province"), "Guangdong") || wallet.text("#countdown") == "" || wallet.text("#clock") == "" {
			t.Errorf("wallet lacks province, clock or countdown")
		}
		if h := eval[string](wallet, `location.hash`); h != "" {
			t.Errorf("wallet kept the token in the address bar: %q", h)
		}
		// At phone width the QR lies inside its frame's white padding, with
		// as much of it on either side: an image wider than the frame ran
		// over the right border and ate the QR's quiet zone there.
		if off := eval[string](wallet, qrInsideFrameJS); off != "" {
			t.Errorf("the wallet's QR at %d px: %s", phoneW, off)
		}
		wallet.click(`[data-lang="zh-CN"]`)
		if got := wallet.text("#status-word"); got != "绿码" {
			t.Errorf("after switching to Chinese the status reads %q, want 绿码", got)
		}
		if got := wallet.text("#province"); got != "广东省" {
			t.Errorf("in Chinese the wallet names the province %q, want 广东省 (the trust list spells it Guangdong)", got)
		}
		wallet.click(`[data-lang="en"]`)
	})

	t.Run("the language chosen is remembered across reloads and pages", func(t *testing.T) {
		languageIsRemembered(t, wallet, d.url(gd), "/wallet")
	})

	// Every load of the wallet issued a code, and a resident holds at most
	// codes.max_live: the ninth visit in a day showed "Something went
	// wrong" and no code.
	t.Run("wallet opened again shows its live code, past codes.max_live visits", func(t *testing.T) {
		first := eval[string](wallet, `document.getElementById("qr").dataset.jti`)
		for i := 0; i <= d.c.Configs[gd].Codes.MaxLive; i++ {
			wallet.open(d.url(gd) + "/wallet")
			if err := wallet.poll(`document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`); err != nil {
				t.Fatalf("visit %d shows no code (%v): %q", i+2, err, wallet.text("#fatal")+" "+wallet.text("#code-note"))
			}
			if got := eval[string](wallet, `document.getElementById("qr").dataset.jti`); got != first {
				t.Fatalf("visit %d shows code %q, want the live code %q", i+2, got, first)
			}
		}
		if got := decodeQR(t, wallet.imagePNG("#qr")); got != code {
			t.Fatalf("after %d visits the wallet's QR reads another code", d.c.Configs[gd].Codes.MaxLive+2)
		}
	})

	t.Run("wallet says its code expired when it could not refresh it", func(t *testing.T) { walletSaysAnExpiredCodeIsExpired(t, wallet) })
	t.Run("wallet offline calls the node less and less often", func(t *testing.T) { walletBacksOffWhileOffline(t, b, walletURL) })
	t.Run("wallet polls at once when looked at again, one poll at a time", func(t *testing.T) {
		walletPollsWhenLookedAtAgain(t, b, walletURL, subjectID)
	})
	t.Run("wallet gives up a poll that hangs and polls again", func(t *testing.T) { walletGivesUpOnAHungPoll(t, b, walletURL, subjectID) })
	t.Run("wallet does not repeat its status to a screen reader at every poll", func(t *testing.T) {
		walletStatusIsNotRewrittenAtEachPoll(t, wallet, subjectID)
	})

	t.Run("a status set again to the same colour gets the wallet a new code", func(t *testing.T) {
		// The earlier code is revoked: the steps below use the new one.
		code, qrPNG = walletTakesANewCodeWhenTheStatusIsSetAgain(t, d, gd, wallet, subjectID)
	})
	t.Run("a compromised signing key gets the wallet a new code", func(t *testing.T) {
		code, qrPNG = walletTakesANewCodeWhenItsKeyIsCompromised(t, d, gd, sh, wallet, code)
	})
	t.Run("a rotation leaves the wallet its code, a compromise of the retired key does not", func(t *testing.T) {
		code, qrPNG = walletKeepsItsCodeThroughARotation(t, d, gd, sh, wallet, subjectID, code)
	})

	// A scanner registered in Shanghai through its console.
	consoleSH := b.newTab(t, "console SH")
	consoleSH.open(d.url(sh) + "/console#token=" + d.c.Tokens[sh])
	consoleSH.setValue("#sc-name", "Hongqiao gate 3")
	consoleSH.click(`#scanner-form button[type="submit"]`)
	consoleSH.waitJS("the registration link", `!document.getElementById("scanner-link").hidden && document.getElementById("scanner-qr").naturalWidth > 0`)
	scannerURL := consoleSH.text("#scanner-url")
	if got := decodeQR(t, consoleSH.imagePNG("#scanner-qr")); got != scannerURL || !strings.HasPrefix(scannerURL, d.url(sh)+"/scan#token=") {
		t.Fatalf("scanner link %q, its QR reads %q", scannerURL, got)
	}
	scan := b.newTab(t, "scanner SH")
	weights["scan"] = scan.open(scannerURL)

	t.Run("scanner in another province shows green and the masked name for a pasted code", func(t *testing.T) {
		res := scan.paste(code)
		if !res.green() || res.Name != testMasked || !strings.Contains(res.Status, "Green") || !strings.Contains(res.Province, "Guangdong") {
			t.Fatalf("scan result %+v", res)
		}
		scan.click("#result-close")
		if v := eval[string](scan, `document.getElementById("code-input").value`); v != "" {
			t.Errorf("the code stays in the field: %q", v)
		}
		scan.click(`[data-lang="zh-CN"]`)
		defer scan.click(`[data-lang="en"]`)
		if res := scan.paste(code); !res.green() || !strings.Contains(res.Province, "广东省 (440000)") {
			t.Errorf("in Chinese the scan result names the issuer %q, want 广东省 (440000)", res.Province)
		}
		scan.click("#result-close")
		if got := scan.text("#scanner-info"); !strings.Contains(got, "上海市") {
			t.Errorf("in Chinese the scanner says %q, without 上海市", got)
		}
	})

	t.Run("scanner says why its camera did not open and what to do", func(t *testing.T) {
		scannerSaysWhyTheCameraDidNotOpen(t, scan, d.url(sh)+"/scan")
	})
	t.Run("scanner result keeps the focus off what it covers", func(t *testing.T) { scannerResultCoversWhatIsBehind(t, scan, code) })
	t.Run("scanner takes a code typed or pasted over the last result", func(t *testing.T) { scannerTakesACodeTypedOverTheResult(t, scan, code) })
	t.Run("scanner checks every code scanned while a check is on its way, in turn", func(t *testing.T) {
		scannerKeepsACodeScannedWhileACheckIsOnItsWay(t, scan, code)
	})
	t.Run("scanner marks every status by a shape as well as a colour", func(t *testing.T) { scannerMarksEveryStatusByShape(t, scan) })

	if screenshotsWanted() {
		t.Run("screenshots", func(t *testing.T) { takeScreenshots(t, wallet, scan, console, code) })
	}

	t.Run("a check that does not reach the node says not checked, never not valid", func(t *testing.T) {
		// The scanner's network drops: every call fails before the node.
		eval[bool](scan, `(() => { window.hcRealFetch = window.fetch; window.fetch = () => Promise.reject(new TypeError("offline")); return true; })()`)
		res := scan.paste(code)
		eval[bool](scan, `(() => { window.fetch = window.hcRealFetch; return true; })()`)
		resultFollowsTheLanguage(t, scan, "#result-reason", map[string]string{web.LangZH: msg(t, web.LangZH, "error.network"), web.LangEN: en(t, "error.network")})
		scan.click("#result-close")
		if res.Status != en(t, "scan.unchecked") || strings.Contains(res.Class, "status-invalid") || res.green() ||
			res.Name != "" || res.Text != en(t, "error.network") || res.Next != "" {
			t.Errorf("a check that never reached the node shows %+v, want %q and the network error, not a verdict", res, en(t, "scan.unchecked"))
		}
	})

	t.Run("an answer that is not the node's says not checked, never not valid, and keeps the scanner", func(t *testing.T) {
		scannerTakesNoVerdictFromAnotherAnswer(t, scan, code)
	})

	t.Run("a phone without AbortSignal.timeout checks codes", func(t *testing.T) {
		eval[bool](scan, `(() => { window.hcRealTimeout = AbortSignal.timeout; AbortSignal.timeout = undefined; return true; })()`)
		res := scan.paste(code)
		eval[bool](scan, `(() => { AbortSignal.timeout = window.hcRealTimeout; return true; })()`)
		scan.click("#result-close")
		if !res.green() || res.Name != testMasked {
			t.Errorf("a browser without AbortSignal.timeout (Safari before 16) shows %+v for a valid code, want green", res)
		}
	})

	t.Run("a check whose answer does not come says not checked within seconds", func(t *testing.T) {
		scannerGivesUpOnAHungCheck(t, b, scannerURL, code, false)
	})

	t.Run("a check whose answer does not come says not checked within seconds, on an older phone too", func(t *testing.T) {
		scannerGivesUpOnAHungCheck(t, b, scannerURL, code, true)
	})

	t.Run("scanner forgets its result when hidden or left for another page", func(t *testing.T) {
		scannerForgetsItsResultWhenHidden(t, b, scannerURL, d.url(sh)+"/", code)
	})

	t.Run("scanner in another province reads the wallet QR through the camera", func(t *testing.T) {
		// A device of its own: its clock is run on at the end.
		cam := b.newTab(t, "scanner SH camera")
		cam.open(scannerURL)
		img, err := png.Decode(bytes.NewReader(qrPNG))
		if err != nil {
			t.Fatal(err)
		}
		if err := writeY4M(b.camera, img); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		cam.click("#camera-start")
		if err := cam.poll(`!document.getElementById("result").hidden`); err != nil {
			t.Fatalf("no camera result: %v; video %s", err, eval[string](cam, `(() => { const v = document.getElementById("video"); return v.videoWidth + "x" + v.videoHeight + ", frames tried " + v.dataset.frames + ", status " + document.getElementById("camera-status").textContent; })()`))
		}
		res := cam.result()
		t.Logf("camera: %dx%d frames, code read and checked %d ms after the camera started", img.Bounds().Dx(), img.Bounds().Dy(), time.Since(start).Milliseconds())
		cam.click("#camera-stop")
		if !res.green() || res.Name != testMasked {
			t.Fatalf("camera scan result %+v", res)
		}
		cam.runClock(resultShownAtMost)
		if !eval[bool](cam, `document.getElementById("result").hidden && document.getElementById("result-name").textContent === ""`) {
			t.Errorf("%v after it came, the camera's result still shows %+v: it does not clear by itself", resultShownAtMost, cam.result())
		}
	})

	t.Run("scanner keeps nothing but its token, and no page holds the name or ID number", func(t *testing.T) {
		// Its token, and the language chosen with its switch (a code).
		if keys := scan.storageKeys(); len(keys) != 2 || !slices.Contains(keys, "local:hcfed.scanner.token") || !slices.Contains(keys, "local:hcfed.lang") {
			t.Errorf("scanner storage keys %v, want only its token and its language", keys)
		}
		if l := eval[string](scan, `localStorage.getItem("hcfed.lang") || ""`); l != web.LangEN {
			t.Errorf("the scanner keeps %q as its language, want the code %q", l, web.LangEN)
		}
		for _, tb := range []*tab{scan, console, consoleSH} {
			c := tb.contents()
			for _, secret := range []string{testName, testID, code, code[:40]} {
				if strings.Contains(c, secret) {
					t.Errorf("%s holds %q in its DOM or storage", tb.name, secret[:min(len(secret), 20)])
				}
			}
		}
		if !strings.Contains(wallet.contents(), testName) {
			t.Errorf("the wallet does not show the resident their own record")
		}
	})

	t.Run("after the operator sets red the wallet shows red and the scanner shows revoked in words", func(t *testing.T) {
		console.setValue("#subject-id", subjectID)
		console.click(`#find-form button[type="submit"]`)
		console.waitJS("the resident record", `!document.getElementById("subject").hidden`)
		if rec := console.text("#subject-record"); !strings.Contains(rec, testMasked) && !strings.Contains(rec, "李") {
			t.Errorf("operator view of the record %q", rec)
		}
		setStatusAsksFirst(t, console, "close contact")
		// The frame turns red at the poll that reads the status, the note
		// once the new code has come.
		wallet.waitLooking("the wallet to turn red with a new code", fmt.Sprintf(`document.getElementById("qr-frame").classList.contains("status-red") && document.getElementById("code-note").textContent === %q`,
			strings.ReplaceAll(en(t, "wallet.status_changed"), "{status}", "Red")))
		if got := wallet.text("#status-word"); got != "Red" {
			t.Errorf("wallet status word %q, want Red", got)
		}
		resultFollowsTheLanguage(t, wallet, "#code-note", map[string]string{
			web.LangZH: strings.ReplaceAll(msg(t, web.LangZH, "wallet.status_changed"), "{status}", "红码"),
			web.LangEN: strings.ReplaceAll(en(t, "wallet.status_changed"), "{status}", "Red")})
		cat, _ := web.Catalogue()
		poll(t, "the revocation to reach Shanghai", func() error {
			res := scan.paste(code)
			scan.click("#result-close")
			if res.Reason != "revoked" {
				return fmt.Errorf("result %+v", res)
			}
			if res.green() || res.Status != "Not valid" || res.Text != cat[web.LangEN].Reasons["revoked"] || res.Next != cat[web.LangEN].NextSteps["revoked"] {
				t.Errorf("revoked result %+v", res)
			}
			return nil
		})
	})

	t.Run("a red resident's wallet says their record is kept, and refuses its deletion in words", func(t *testing.T) {
		walletHoldsDeletionWhileNotGreen(t, wallet)
	})

	t.Run("resident appeals in the wallet and the operator upholds it in the console", func(t *testing.T) {
		wallet.setValue("#appeal-msg", "I was never in contact")
		// A language switch keeps the appeal being written.
		wallet.switchLang(web.LangZH)
		if got := eval[string](wallet, `document.getElementById("appeal-msg").value`); got != "I was never in contact" {
			t.Errorf("after a language switch the wallet's appeal reads %q", got)
		}
		wallet.switchLang(web.LangEN)
		// A double tap on a slow network sends one appeal.
		sent := wallet.requestsTo("/v1/appeals")
		wallet.doubleClick(`#appeal-form button[type="submit"]`)
		wallet.waitJS("the appeal", fmt.Sprintf(`document.getElementById("appeal-result").textContent === %q`, en(t, "wallet.appeal_sent")))
		if n := wallet.requestsTo("/v1/appeals") - sent; n != 1 {
			t.Errorf("Send appeal tapped twice sent %d appeals, want 1", n)
		}
		resultFollowsTheLanguage(t, wallet, "#appeal-result", map[string]string{web.LangZH: msg(t, web.LangZH, "wallet.appeal_sent"), web.LangEN: en(t, "wallet.appeal_sent")})
		console.open(d.url(gd) + "/console")
		console.waitJS("the appeal in the queue", `document.querySelectorAll("#appeal-list li[data-appeal]").length === 1`)
		id := eval[string](console, `document.querySelector("#appeal-list li[data-appeal]").dataset.appeal`)
		p := "#ap-" + id + "-"
		console.setValue(p+"outcome", "upheld")
		console.setValue(p+"note", "contact record corrected")
		// Upheld with the status left unchanged would tell the resident
		// they were right and leave them red: the console asks for it.
		console.click(`#appeal-list li[data-appeal] button[type="submit"]`)
		console.waitJS("the console to ask for the status", fmt.Sprintf(`document.getElementById("appeal-result").textContent === %q`, en(t, "console.upheld_needs_status")))
		if !eval[bool](console, `document.getElementById("appeal-confirm").hidden`) {
			t.Errorf("an upheld appeal without a status is asked to be confirmed")
		}
		if n := eval[float64](console, `document.querySelectorAll("#appeal-list li[data-appeal]").length`); n != 1 {
			t.Fatalf("the appeal left the queue without a status: %v appeals listed", n)
		}
		// Set red again after the filing: the console's decision is refused,
		// and taken again against the new red.
		resolveStaleAppeal(t, d, gd, console, subjectID, func(p string) {
			console.setValue(p+"outcome", "upheld")
			console.setValue(p+"note", "contact record corrected")
			console.setValue(p+"status", "green")
		})
		wallet.waitLooking("the wallet to turn green again", `document.getElementById("qr-frame").classList.contains("status-green")`)
		wallet.waitJS("the outcome in the wallet", `document.getElementById("appeals").textContent.includes("upheld")`)
		if got := wallet.text("#appeals"); !strings.Contains(got, "contact record corrected") {
			t.Errorf("wallet appeals %q lack the operator's note", got)
		}
		walletShowsTheOutcome(t, wallet, "green")
		wallet.waitJS("deletion offered again once green", `document.getElementById("delete-held").hidden && !document.getElementById("delete-start").disabled && document.getElementById("delete-result").textContent === ""`)
	})

	t.Run("a lost paper code is withdrawn from the console", func(t *testing.T) { withdrawPaperCode(t, d, gd, console, subjectID) })

	t.Run("wallet dates a check in another province by its day, not a time in the phone's zone", func(t *testing.T) {
		walletShowsForeignDay(t, d, gd, wallet, subjectID, d.c.Configs[sh].Province)
	})

	t.Run("a bad wallet link leaves the phone's wallet working", func(t *testing.T) {
		badLinkLeavesTheDevicesToken(t, wallet, d.url(gd), "/wallet", d.c.Tokens[gd],
			`document.getElementById("qr").dataset.jti && document.getElementById("qr").naturalWidth > 0`)
	})

	lostWallet, newWallet := wallet, b.newTab(t, "wallet GD new phone")
	t.Run("a lost phone gets a new wallet link in the console and the old link is refused", func(t *testing.T) {
		walletURL = lostPhone(t, d, gd, console, lostWallet, newWallet, subjectID, walletURL)
		wallet = newWallet // the resident's phone from now on
	})

	t.Run("another resident's link asks before it replaces the wallet a phone holds", func(t *testing.T) {
		anotherResidentsLinkAsksFirst(t, b, d, gd)
	})

	t.Run("a shared phone forgets the wallet, and shows nothing of the resident after", func(t *testing.T) {
		walletForgetsTheDevice(t, wallet, walletURL, subjectID, testName)
	})

	t.Run("resident deletes their data from the wallet and the link expires", func(t *testing.T) {
		wallet.click("#delete-start")
		if w := wallet.text(".danger-zone"); !strings.Contains(w, "stops working") || !strings.Contains(w, "cannot be undone") {
			t.Errorf("no clear warning before deletion: %q", w)
		}
		wallet.click("#delete-yes")
		wallet.waitJS("the deletion", `!document.getElementById("fatal").hidden`)
		if got := wallet.text("#fatal h2"); got != en(t, "wallet.deleted_title") {
			t.Errorf("after deletion the wallet says %q", got)
		}
		wallet.open(walletURL)
		if got := wallet.text("#fatal h2"); got != en(t, "fatal.bad_link_title") {
			t.Errorf("the deleted resident's link says %q, want %q", got, en(t, "fatal.bad_link_title"))
		}
	})

	t.Run("a checkpoint tablet unregisters itself at a shift change, on this device only", func(t *testing.T) {
		scannerUnregisters(t, d, sh, scan, scannerURL)
	})

	t.Run("a bad scanner link leaves the device's scanner working", func(t *testing.T) {
		badLinkLeavesTheDevicesToken(t, scan, d.url(sh), "/scan", d.c.Tokens[sh], `!document.getElementById("main").hidden`)
	})

	t.Run("another scanner's link asks before it replaces the scanner a device holds", func(t *testing.T) {
		anotherScannersLinkAsksFirst(t, b, d, sh)
	})

	t.Run("bad and expired links give a clear page", func(t *testing.T) {
		bad := b.newTab(t, "bad links")
		var feed struct {
			Token string `json:"token"`
		}
		if st := d.call(gd, "POST", "/v1/accounts", d.c.Tokens[gd], map[string]string{"name": "platform", "role": "feed"}, &feed); st != http.StatusCreated {
			t.Fatalf("create a feed account: HTTP %d", st)
		}
		for _, c := range []struct{ url, title, text string }{
			{d.url(gd) + "/wallet#token=hct_not-a-real-token", "fatal.bad_link_title", "fatal.bad_link"},
			{d.url(gd) + "/console#token=hct_not-a-real-token", "fatal.bad_link_title", "fatal.bad_link"},
			{d.url(sh) + "/scan", "fatal.no_link_title", "fatal.no_link_scanner"},
			{d.url(gd) + "/wallet#token=" + d.c.Tokens[gd], "fatal.bad_link_title", "fatal.wrong_role"},
			{d.url(sh) + "/scan#token=" + d.c.Tokens[sh], "fatal.bad_link_title", "fatal.wrong_role"},
			// The health platform's feed token opens no console, and says why.
			{d.url(gd) + "/console#token=" + feed.Token, "fatal.bad_link_title", "fatal.feed_role"},
		} {
			bad.open(c.url)
			if got := bad.text("#fatal h2"); got != en(t, c.title) {
				t.Errorf("%s: heading %q, want %q", c.url, got, en(t, c.title))
			}
			if got := bad.text("#fatal p"); got != en(t, c.text) {
				t.Errorf("%s: text %q, want %q", c.url, got, en(t, c.text))
			}
			// A token the page refused (unknown, or another role's: an
			// operator's) is not kept on the device.
			if keys := bad.storageKeys(); len(keys) != 0 {
				t.Errorf("%s: refused link left %v in storage, want nothing", c.url, keys)
			}
		}
		// The operator removes the Shanghai scanner: the console asks first,
		// saying what the device will show and that it cannot be undone;
		// then its stored link expires.
		deletes := func() int {
			n := 0
			for _, u := range consoleSH.requests() {
				if strings.Contains(u, "/v1/scanners/") {
					n++
				}
			}
			return n
		}
		before := deletes()
		consoleSH.click(`#scanner-table tr:last-child button`)
		if got, want := consoleSH.text("#scanner-remove-text"), strings.ReplaceAll(en(t, "console.scanner_remove_confirm"), "{name}", "Hongqiao gate 3"); got != want {
			t.Errorf("removing a scanner asks %q, want %q", got, want)
		}
		if n := deletes() - before; n != 0 || eval[bool](consoleSH, `document.getElementById("scanner-remove-confirm").hidden`) {
			t.Fatalf("Remove removed the scanner without asking (%d requests)", n)
		}
		consoleSH.click("#scanner-remove-yes")
		consoleSH.waitJS("the removal", `document.getElementById("scanner-result").textContent.includes("removed")`)
		scan.open(d.url(sh) + "/scan")
		if got := scan.text("#fatal p"); got != en(t, "fatal.bad_link_scanner") {
			t.Errorf("removed scanner: %q", got)
		}
	})

	t.Run("console says the federation's warnings in its language", func(t *testing.T) {
		consoleSaysWarningsInItsLanguage(t, d, gd, console)
	})

	t.Run("a status unconfirmed since a restore: the wallet shows no code, the console says to set it", func(t *testing.T) {
		walletAndConsoleSayAStatusUnconfirmedSinceARestore(t, b, d, gd, console)
	})

	t.Run("no page requests another origin", func(t *testing.T) {
		console.sameOrigin(d.url(gd))
		wallet.sameOrigin(d.url(gd))
		lostWallet.sameOrigin(d.url(gd))
		consoleSH.sameOrigin(d.url(sh))
		scan.sameOrigin(d.url(sh))
	})

	t.Run("no page turns a string into markup", func(t *testing.T) {
		// The policy requires Trusted Types and allows none: innerHTML and
		// its kin throw, whatever a later script writes.
		for _, tb := range []*tab{console, wallet, scan} {
			got := eval[string](tb, `(() => { try { document.body.insertAdjacentHTML("beforeend", "<b id=hc-injected>x</b>"); } catch (e) { return e.name; }
				return document.getElementById("hc-injected") ? "written" : "not written"; })()`)
			if got != "TypeError" {
				t.Errorf("%s: markup written from a string: %s, want a TypeError", tb.name, got)
			}
		}
	})

	t.Run("page weight and first render", func(t *testing.T) {
		for _, p := range []struct {
			name string
			max  float64
		}{{"wallet", maxWalletBytes}, {"console", maxConsoleBytes}, {"scan", maxScanBytes}} {
			w := weights[p.name]
			t.Logf("%-8s %6.1f KB transferred (limit %.0f KB), first contentful paint %4.0f ms, settled %4.0f ms",
				p.name, w.bytes/1024, p.max/1024, w.paintMs, w.ready)
			if w.bytes <= 0 || w.bytes > p.max {
				t.Errorf("%s weighs %.0f bytes, limit %.0f", p.name, w.bytes, p.max)
			}
		}
	})
}

// qrInsideFrameJS says how the wallet's QR leaves its frame's content box
// or sits off its centre by more than a pixel, or nothing if it does not.
const qrInsideFrameJS = `(() => {
	const q = document.getElementById("qr").getBoundingClientRect();
	const f = document.getElementById("qr-frame"), r = f.getBoundingClientRect(), cs = getComputedStyle(f);
	const left = r.left + parseFloat(cs.borderLeftWidth) + parseFloat(cs.paddingLeft);
	const right = r.right - parseFloat(cs.borderRightWidth) - parseFloat(cs.paddingRight);
	if (q.left < left - 0.5 || q.right > right + 0.5) return "spans " + q.left + "–" + q.right + ", the frame's inside " + left + "–" + right;
	if (Math.abs((q.left - left) - (right - q.right)) > 1) return "off centre: " + (q.left - left) + " px left, " + (right - q.right) + " px right";
	return "";
})()`
