// Package paperfont is the 12-pixel bitmap font the paper code page is
// drawn with: printable ASCII and the CJK Unified Ideographs, so that a
// masked name (张*) and the status in Chinese print. The glyphs are a
// subset of the simplified-Chinese face of hajimehoshi/bitmapfont, whose
// ideographs come from Cubic 11 and Ark Pixel (SIL Open Font License 1.1,
// see NOTICE and OFL-1.1.txt); tools/paperfont regenerates glyphs.bin.
// Embedding this subset (about 260 kB) instead of that module's 2.4 MB of
// faces is its reason to exist.
package paperfont

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
)

// Cell geometry: every glyph is drawn in a cellW × cellH cell whose
// baseline is ascent pixels below its top.
const (
	cellW, cellH = 12, 16
	ascent       = 12
	glyphBytes   = cellW * cellH / 8
	// missing is drawn for a character the set lacks: □.
	missing = '\u25a1'
)

//go:embed glyphs.bin
var packed []byte

type glyph struct {
	adv  int
	bits [glyphBytes]byte
}

var (
	loadOnce sync.Once
	glyphs   map[rune]*glyph
	loadErr  error
)

// load inflates glyphs.bin once: records of a big-endian uint16 rune, a
// one-byte advance and the cell's bits, row-major, most significant first.
func load() (map[rune]*glyph, error) {
	loadOnce.Do(func() {
		raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(packed)))
		if err != nil {
			loadErr = fmt.Errorf("paperfont: %w", err)
			return
		}
		const rec = 3 + glyphBytes
		if len(raw)%rec != 0 {
			loadErr = fmt.Errorf("paperfont: glyphs.bin is %d bytes, not records of %d", len(raw), rec)
			return
		}
		glyphs = make(map[rune]*glyph, len(raw)/rec)
		for ; len(raw) > 0; raw = raw[rec:] {
			g := &glyph{adv: int(raw[2])}
			copy(g.bits[:], raw[3:rec])
			glyphs[rune(binary.BigEndian.Uint16(raw))] = g
		}
		if glyphs[missing] == nil {
			loadErr = fmt.Errorf("paperfont: glyphs.bin lacks the missing-character glyph")
		}
	})
	return glyphs, loadErr
}

// Face returns the font, or an error if the embedded glyphs are damaged
// (a build problem, caught by the package's test).
func Face() (font.Face, error) {
	if _, err := load(); err != nil {
		return nil, err
	}
	return face{}, nil
}

type face struct{}

// lookup returns r's glyph, or the missing-character glyph and false.
func lookup(r rune) (*glyph, bool) {
	if g, ok := glyphs[r]; ok {
		return g, true
	}
	return glyphs[missing], false
}

func (face) Close() error { return nil }

func (face) Glyph(dot fixed.Point26_6, r rune) (image.Rectangle, image.Image, image.Point, fixed.Int26_6, bool) {
	g, ok := lookup(r)
	mask := image.NewAlpha(image.Rect(0, 0, cellW, cellH))
	for i := 0; i < cellW*cellH; i++ {
		if g.bits[i/8]&(0x80>>(i%8)) != 0 {
			mask.Pix[i] = 0xff
		}
	}
	x, y := dot.X.Floor(), dot.Y.Floor()-ascent
	return image.Rect(x, y, x+cellW, y+cellH), mask, image.Point{}, fixed.I(g.adv), ok
}

func (face) GlyphBounds(r rune) (fixed.Rectangle26_6, fixed.Int26_6, bool) {
	g, ok := lookup(r)
	return fixed.R(0, -ascent, g.adv, cellH-ascent), fixed.I(g.adv), ok
}

func (face) GlyphAdvance(r rune) (fixed.Int26_6, bool) {
	g, ok := lookup(r)
	return fixed.I(g.adv), ok
}

func (face) Kern(rune, rune) fixed.Int26_6 { return 0 }

func (face) Metrics() font.Metrics {
	return font.Metrics{Height: fixed.I(cellH), Ascent: fixed.I(ascent), Descent: fixed.I(cellH - ascent),
		XHeight: fixed.I(7), CapHeight: fixed.I(9), CaretSlope: image.Pt(0, 1)}
}
