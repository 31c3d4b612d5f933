package paperfont

import (
	"image"
	"testing"

	"golang.org/x/image/math/fixed"
)

// ink counts the set pixels of r's glyph.
func ink(t *testing.T, r rune) (int, fixed.Int26_6, bool) {
	t.Helper()
	f, err := Face()
	if err != nil {
		t.Fatal(err)
	}
	dr, mask, _, adv, ok := f.Glyph(fixed.P(0, 12), r)
	if dr != image.Rect(0, 0, cellW, cellH) {
		t.Fatalf("%q drawn in %v, want the cell", r, dr)
	}
	n := 0
	for _, a := range mask.(*image.Alpha).Pix {
		if a != 0 {
			n++
		}
	}
	return n, adv, ok
}

func TestFaceDrawsSurnamesStatusWordsAndASCII(t *testing.T) {
	box, _, _ := ink(t, missing)
	for _, r := range "张王李欧阳绿黄红码*0123456789ABCXYZ" {
		n, adv, ok := ink(t, r)
		if !ok || n == 0 {
			t.Errorf("%q: no glyph (ok %v, %d pixels)", r, ok, n)
		}
		if r >= 0x4e00 && (adv != fixed.I(12) || n == box) {
			t.Errorf("%q: advance %v, %d pixels (□ has %d): not its own full-width glyph", r, adv, n, box)
		}
		if r < 0x80 && adv != fixed.I(6) {
			t.Errorf("%q: advance %v, want half width", r, adv)
		}
	}
}

func TestFaceDrawsABoxForACharacterItLacks(t *testing.T) {
	box, boxAdv, _ := ink(t, missing)
	n, adv, ok := ink(t, '\U00020000') // CJK Extension B: not in the set
	if ok || n != box || adv != boxAdv || box == 0 {
		t.Fatalf("missing character: ok %v, %d pixels (□ has %d), advance %v", ok, n, box, adv)
	}
}
