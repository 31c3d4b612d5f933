// Command paperfont writes node/paperfont/glyphs.bin: the glyphs the paper
// code page draws (printable ASCII and the CJK Unified Ideographs block),
// taken from the 12-pixel simplified-Chinese face of
// github.com/hajimehoshi/bitmapfont/v3, so that hcnode embeds the few
// hundred kilobytes it draws instead of that module's 2.4 MB of faces.
// It is a separate module so the node does not depend on bitmapfont.
//
//	cd tools/paperfont && go run . -out ../../node/paperfont/glyphs.bin
package main

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"log"
	"os"

	"github.com/hajimehoshi/bitmapfont/v3"
	"golang.org/x/image/math/fixed"
)

const (
	cellW, cellH = 12, 16 // every glyph's cell
	ascent       = 12     // baseline from the cell's top
)

func main() {
	out := flag.String("out", "glyphs.bin", "output file")
	flag.Parse()
	var runes []rune
	for r := rune(0x20); r <= 0x7e; r++ {
		runes = append(runes, r)
	}
	runes = append(runes, 0x25a1) // □, drawn for a character the set lacks
	for r := rune(0x4e00); r <= 0x9fff; r++ {
		runes = append(runes, r)
	}
	var raw bytes.Buffer
	var n int
	face := bitmapfont.FaceSC
	for _, r := range runes {
		dr, mask, mp, adv, ok := face.Glyph(fixed.P(0, ascent), r)
		if !ok || adv.Ceil() == 0 || adv.Ceil() > cellW {
			continue
		}
		var bits [cellW * cellH / 8]byte
		blank := true
		for y := 0; y < cellH; y++ {
			for x := 0; x < cellW; x++ {
				p := image.Pt(x, y)
				if !p.In(dr) {
					continue
				}
				if _, _, _, a := mask.At(mp.X+x-dr.Min.X, mp.Y+y-dr.Min.Y).RGBA(); a >= 0x8000 {
					i := y*cellW + x
					bits[i/8] |= 0x80 >> (i % 8)
					blank = false
				}
			}
		}
		if blank && r != ' ' {
			continue // the face has no glyph for it
		}
		binary.Write(&raw, binary.BigEndian, uint16(r))
		raw.WriteByte(byte(adv.Ceil()))
		raw.Write(bits[:])
		n++
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(raw.Bytes())
	w.Close()
	if err := os.WriteFile(*out, z.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d glyphs, %d bytes raw, %d compressed\n", n, raw.Len(), z.Len())
}
