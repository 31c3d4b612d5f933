package web_test

import (
	"bytes"
	"context"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screenshotsWanted: HCFED_SCREENSHOTS=1 writes docs/screenshots/.
func screenshotsWanted() bool { return os.Getenv("HCFED_SCREENSHOTS") == "1" }

// takeScreenshots writes each page at phone and desktop width, in zh-CN
// and English, to docs/screenshots/. The scanner is shown with the result
// of a green code; the wallet with its live clock.
func takeScreenshots(t *testing.T, wallet, scan, console *tab, code string) {
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sizes := []struct {
		name string
		w, h int64
	}{{"phone", phoneW, phoneH}, {"desktop", desktopW, desktopH}}
	for _, lang := range []string{"zh-CN", "en"} {
		for _, sz := range sizes {
			for _, p := range []struct {
				name string
				tb   *tab
				prep func(*tab)
			}{
				{"wallet", wallet, func(tb *tab) {
					tb.waitJS("the QR", `document.getElementById("qr").naturalWidth > 0`)
				}},
				{"scan", scan, func(tb *tab) { tb.paste(code) }},
				{"console", console, func(*tab) {}},
			} {
				start := time.Now()
				p.tb.do(chromedp.EmulateViewport(sz.w, sz.h))
				u := eval[string](p.tb, `location.origin + location.pathname`)
				p.tb.open(u + "?lang=" + lang)
				p.prep(p.tb)
				shot := capture(t, p.tb)
				name := filepath.Join(dir, p.name+"-"+strings.ToLower(lang)+"-"+sz.name+".png")
				if err := os.WriteFile(name, shot, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s (%d KB, %d ms)", name, len(shot)>>10, time.Since(start).Milliseconds())
				if p.name == "scan" {
					p.tb.click("#result-close")
				}
				p.tb.do(chromedp.EmulateViewport(phoneW, phoneH))
			}
		}
	}
}

// capture screenshots the viewport as a 256-colour PNG, which keeps the
// committed images small.
func capture(t *testing.T, tb *tab) []byte {
	t.Helper()
	var raw []byte
	tb.front()
	tb.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		var err error
		raw, err = chromedp.CaptureScreenshot()(ctx, target)
		return err
	}))
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	pal := image.NewPaletted(img.Bounds(), palette.Plan9)
	draw.Draw(pal, img.Bounds(), img, img.Bounds().Min, draw.Src)
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, pal); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
