package node

import (
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// FuzzQRRoundTrip: the text of a QR code the node draws — a code
// ("HCF1:" and a compact JWS) or a wallet or scanner link, both printable
// ASCII — reads back from the image exactly, or the node refuses to draw
// it; it never draws a QR that scans as something else.
func FuzzQRRoundTrip(f *testing.F) {
	for _, s := range []string{
		"HCF1:eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiI0NDAwMDAifQ.c2lnbmF0dXJl",
		"https://gd.example/wallet#token=hct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"0123456789", "HCF1:", "a", " %+-./:$*", strings.Repeat("HCF1:x.", 300),
	} {
		f.Add(s)
	}
	reader := qrcode.NewQRCodeReader()
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
	f.Fuzz(func(t *testing.T, text string) {
		if text == "" || strings.IndexFunc(text, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			return // not the text of a code or a link
		}
		img, err := qrImagePx(text, 1)
		if err != nil {
			return
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reader.Decode(bmp, hints)
		if err != nil {
			t.Fatalf("QR of %q does not scan: %v", text, err)
		}
		if got.GetText() != text {
			t.Fatalf("QR of %q scans as %q", text, got.GetText())
		}
	})
}
