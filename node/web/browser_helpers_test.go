package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hcfed/hcfed/internal/testkit"
)

// Phone and desktop viewports of the tests and screenshots.
const (
	phoneW, phoneH     = 390, 844
	desktopW, desktopH = 1280, 800
	// pageTimeout bounds any one wait for a page to settle or change.
	pageTimeout = 20 * time.Second
)

// chromium finds the browser: $HCFED_CHROMIUM, else chromium on PATH. It
// is missing on a developer machine without it (skip), but under CI=1 a
// missing browser fails: the browser tests are part of what must pass.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HCFED_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci := strings.ToLower(os.Getenv("CI")); ci == "1" || ci == "true" {
		t.Fatal("CI is set and no Chromium was found (install the chromium package or set HCFED_CHROMIUM)")
	}
	t.Skip("no Chromium on this machine (install chromium, or set HCFED_CHROMIUM); CI=1 makes this a failure")
	return ""
}

// browser is one headless Chromium for a whole test, with a fake camera
// that plays the Y4M file at camera.
type browser struct {
	ctx    context.Context
	camera string
}

// launchBrowser starts the browser in the background, so that the test
// starts its federation meanwhile; the function it returns waits until
// the browser has started.
func launchBrowser(t *testing.T) func() *browser {
	t.Helper()
	path := chromium(t)
	camera := filepath.Join(t.TempDir(), "camera.y4m")
	blank := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	if err := writeY4M(camera, blank); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.WindowSize(phoneW, phoneH),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", camera),
		chromedp.Flag("lang", "en-US"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }() // start it now, once
	return func() *browser {
		t.Helper()
		if err := <-started; err != nil {
			t.Fatalf("starting Chromium: %v", err)
		}
		return &browser{ctx: bctx, camera: camera}
	}
}

// tab is a page in its own browser context (its own storage: another
// person's device), recording every request it makes and the bytes each
// took on the wire.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string

	mu    sync.Mutex
	urls  []string
	bytes float64
}

func (b *browser) newTab(t *testing.T, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, name: name}
	if err := chromedp.Listen(ctx, tb.onEvent); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	// Cold loads: the weight measured is what a first visit costs.
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	tb.do(chromedp.EmulateViewport(phoneW, phoneH))
	return tb
}

// sibling is another tab of the same device as tb (its browser context:
// the same storage), as a second tab of a page opened on one phone.
func (tb *tab) sibling(t *testing.T, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tb.ctx)
	t.Cleanup(cancel)
	s := &tab{t: t, ctx: ctx, name: name}
	if err := chromedp.Listen(ctx, s.onEvent); err != nil {
		t.Fatal(err)
	}
	s.do(chromedp.EmulateViewport(phoneW, phoneH))
	return s
}

func (tb *tab) onEvent(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.urls = append(tb.urls, e.Request.URL)
	case *network.EventLoadingFinished:
		tb.bytes += e.EncodedDataLength
	}
}

// requests returns every URL the tab has asked for.
func (tb *tab) requests() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.urls...)
}

// front makes the tab the visible one, as the person using it would:
// Chromium throttles timers and skips frames in hidden tabs.
func (tb *tab) front() {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, page.BringToFront, cdp.Empty{}); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the tab.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, pageTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluating %s: %v", tb.name, expr, err)
	}
	return v
}

// waitJS waits until the expression is truthy in the page.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	tb.waitThen(what, expr, "true", 25*time.Millisecond)
}

// waitThen is waitJS that runs the statement then in the page after each
// try that found expr false, trying every interval.
func (tb *tab) waitThen(what, expr, then string, interval time.Duration) {
	tb.t.Helper()
	if err := tb.pollThen(expr, then, interval); err != nil {
		tb.t.Fatalf("%s: waiting for %s (%s): %v", tb.name, what, expr, err)
	}
}

// poll evaluates expr until it is truthy, through reloads (an evaluation
// in a page being replaced fails, and is tried again).
func (tb *tab) poll(expr string) error { return tb.pollThen(expr, "true", 25*time.Millisecond) }

// pollThen is poll that runs the statement then in the page after each
// try that found expr false, trying every interval.
func (tb *tab) pollThen(expr, then string, interval time.Duration) error {
	return testkit.Poll(pageTimeout, interval, func() error {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(() => { if ("+expr+") return true; "+then+"; return false; })()"))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// load is one page load: the bytes it transferred and the milliseconds
// from navigation to the page's first contentful paint and to settled.
type load struct {
	bytes          float64
	paintMs, ready float64
}

// open navigates and waits until the page has settled (data-ready).
func (tb *tab) open(u string) load {
	tb.t.Helper()
	tb.mu.Lock()
	tb.bytes = 0
	tb.mu.Unlock()
	tb.front()
	// A link that differs only in its fragment does not load a new page;
	// the page reloads itself, and is not settled until it has.
	eval[bool](tb, `(() => { if (document.body) document.body.dataset.ready = ""; return true; })()`)
	tb.do(chromedp.Navigate(u))
	tb.waitJS("the page to settle", `document.body && document.body.dataset.ready === "1"`)
	tb.mu.Lock()
	l := load{bytes: tb.bytes}
	tb.mu.Unlock()
	l.paintMs = eval[float64](tb, `(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`)
	l.ready = eval[float64](tb, `Number(document.body.dataset.readyMs)`)
	return l
}

// text is an element's text content.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.querySelector(%q).textContent.trim()`, sel))
}

// setValue sets a form field as typing would, firing input events.
func (tb *tab) setValue(sel, v string) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, sel, v))
}

// click clicks an element from script (result overlays may cover it).
func (tb *tab) click(sel string) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(() => { document.querySelector(%q).click(); return true; })()`, sel))
}

// doubleClick clicks an element twice in one go, as an impatient or
// shaking finger does before the first press has been answered.
func (tb *tab) doubleClick(sel string) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.click(); e.click(); return true; })()`, sel))
}

// mouseDoubleClick double-clicks an element with the mouse, at its
// centre: two presses and releases (click counts 1 and 2) where it was
// before the first, whatever the first changed on the page.
func (tb *tab) mouseDoubleClick(sel string) {
	tb.t.Helper()
	xy := eval[[]float64](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({ block: "center" });
		const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel))
	tb.do(chromedp.MouseClickXY(xy[0], xy[1]), chromedp.MouseClickXY(xy[0], xy[1], chromedp.ClickCount(2)))
}

// requestsTo counts the tab's requests whose URL ends with suffix.
func (tb *tab) requestsTo(suffix string) int {
	n := 0
	for _, u := range tb.requests() {
		if strings.HasSuffix(u, suffix) {
			n++
		}
	}
	return n
}

// imagePNG is what an <img> shows, as PNG bytes, read through a canvas.
func (tb *tab) imagePNG(sel string) []byte {
	tb.t.Helper()
	tb.waitJS(sel+" to load", fmt.Sprintf(`(() => { const i = document.querySelector(%q); return i && i.complete && i.naturalWidth > 0; })()`, sel))
	data := eval[string](tb, fmt.Sprintf(`(() => { const i = document.querySelector(%q); const c = document.createElement("canvas");
		c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext("2d").drawImage(i, 0, 0);
		return c.toDataURL("image/png").split(",")[1]; })()`, sel))
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		tb.t.Fatal(err)
	}
	return raw
}

// contents is everything a page holds that a person or script could read
// back: its DOM, every form value and both storages.
func (tb *tab) contents() string {
	tb.t.Helper()
	return eval[string](tb, `(async () => JSON.stringify({
		html: document.documentElement.outerHTML,
		values: [...document.querySelectorAll("input, textarea, select")].map((e) => e.value),
		local: Object.entries(localStorage), session: Object.entries(sessionStorage),
		idb: indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : []}))()`)
}

// storageKeys lists localStorage and sessionStorage keys.
func (tb *tab) storageKeys() []string {
	tb.t.Helper()
	return eval[[]string](tb, `[...Object.keys(localStorage).map((k) => "local:" + k), ...Object.keys(sessionStorage).map((k) => "session:" + k)]`)
}

// decodeQR reads the text of a QR code image.
func decodeQR(t *testing.T, pngBytes []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("QR image: %v", err)
	}
	text, err := testkit.DecodeQR(img)
	if err != nil {
		t.Fatalf("decoding the QR (%v): %v", img.Bounds(), err)
	}
	return text
}

// writeY4M writes a short YUV4MPEG2 (4:2:0) video of img, centred on a
// white frame, for Chromium's fake camera to play in a loop.
func writeY4M(path string, img image.Image) error {
	b := img.Bounds()
	h := b.Dy() + 80
	w := max(b.Dx()+80, h*4/3)
	w, h = w+w%2, h+h%2
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "YUV4MPEG2 W%d H%d F5:1 Ip A1:1 C420jpeg\n", w, h)
	y := make([]byte, w*h)
	ox, oy := (w-b.Dx())/2, (h-b.Dy())/2
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			v := byte(0xff)
			if x, yy := i-ox, j-oy; x >= 0 && yy >= 0 && x < b.Dx() && yy < b.Dy() {
				v = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+yy)).(color.Gray).Y
			}
			y[j*w+i] = v
		}
	}
	chroma := bytes.Repeat([]byte{0x80}, (w/2)*(h/2)*2)
	for range 2 {
		buf.WriteString("FRAME\n")
		buf.Write(y)
		buf.Write(chroma)
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// sameOrigin fails t for any request of the tab to another origin.
func (tb *tab) sameOrigin(origin string) {
	tb.t.Helper()
	for _, u := range tb.requests() {
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "blob:"+origin+"/") {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || p.Scheme+"://"+p.Host != origin {
			tb.t.Errorf("%s requested %q, outside its origin %s", tb.name, u, origin)
		}
	}
}

// poll waits for cond, for steps that need a fresh action per attempt.
func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	testkit.WaitFor(t, pageTimeout, 100*time.Millisecond, what, cond)
}

// narrowW is the narrowest viewport the console's forms must fit: a
// small phone zoomed in, or a split screen.
const narrowW = 180

// inlineFormsFitNarrow narrows tb to narrowW and checks that no inline
// form row, nor anything in one, reaches past the viewport, and that no
// row or label or button scrolls within itself (a field does: a value
// longer than it scrolls inside it); the phone viewport is put back after.
func inlineFormsFitNarrow(t *testing.T, tb *tab) {
	t.Helper()
	tb.do(chromedp.EmulateViewport(narrowW, phoneH))
	defer tb.do(chromedp.EmulateViewport(phoneW, phoneH))
	tb.waitJS("the narrow layout", fmt.Sprintf(`innerWidth === %d`, narrowW))
	over := eval[[]string](tb, `(() => {
	  const vw = document.documentElement.clientWidth;
	  const name = (e) => e.id || (e.tagName.toLowerCase() + (e.htmlFor ? "[for=" + e.htmlFor + "]" : "") + " in #" + e.closest("form").id);
	  return [...document.querySelectorAll("form.inline")].flatMap((f) => [f, ...f.children])
	    .filter((e) => e.getClientRects().length > 0 && (e.getBoundingClientRect().right > vw + 1 ||
	      (!e.matches("input, select") && e.scrollWidth > e.clientWidth + 1)))
	    .map((e) => name(e) + " (right edge " + Math.round(e.getBoundingClientRect().right) + " px, " + e.scrollWidth + " px wide in " + e.clientWidth + ")");
	})()`)
	if n := eval[int](tb, `document.querySelectorAll("form.inline").length`); n == 0 {
		t.Fatal("no inline form on the page")
	}
	if len(over) > 0 {
		t.Errorf("at %d px wide these overflow: %v", narrowW, over)
	}
}

// typeKeys types keys as a keyboard does, key by key (typeKey). A code
// is some 560 characters, and each call waits for the page to handle its
// event: each key has its own pageTimeout, the bound of one change of
// the page (typing a whole code within one took longer on a loaded
// machine).
func (tb *tab) typeKeys(keys string) {
	tb.t.Helper()
	for _, r := range keys {
		tb.do(typeKey(r))
	}
}

// typeKey presses the key of r: a key down carrying its text (which the
// page gets as keydown, keypress and input) and a key up, two calls to
// the browser where chromedp.KeyEvent makes three (down, char, up).
func typeKey(r rune) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		evs := kb.Encode(r)
		down, up := *evs[0], *evs[len(evs)-1]
		if len(evs) == 3 {
			down.Text, down.UnmodifiedText = evs[1].Text, evs[1].UnmodifiedText
		}
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	})
}
