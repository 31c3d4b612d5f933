package node

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/image/font"

	"github.com/hcfed/hcfed/node/paperfont"
	"github.com/hcfed/hcfed/trust"
)

// TestPaperPageTellsTheGuardAndTheHolderWhatToDo checks the fine print of
// a paper code (seed rule 9): the holder has no phone to look anything
// up, and a guard without a scanner might trust the printed colour. In
// Chinese and in English it says that the scan decides, not the colour
// printed, and where a new code comes from when this one expires or is
// lost; every character has a glyph in the page's font, and every line
// fits between the margins, a long province name included.
func TestPaperPageTellsTheGuardAndTheHolderWhatToDo(t *testing.T) {
	face, err := paperfont.Face()
	if err != nil {
		t.Fatal(err)
	}
	pg := paperPage{Code: "HCF1:x", Province: "440000", ProvinceName: "Guangdong", Content: trust.Content{Status: trust.Green, Name: "张*"},
		From: time.Unix(1796120081, 0), Until: time.Unix(1796724881, 0)}
	notes := strings.Join(paperNotes(pg), "\n")
	for _, want := range []string{"扫码", "打印时的状态", "过期", "遗失", "服务点", "440000",
		"scan decides", "status when printed", "Expired or lost", "service point", "Guangdong (440000)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the paper page's notes lack %q:\n%s", want, notes)
		}
	}
	pg.ProvinceName = strings.Repeat("Guangdong", 20)
	for _, l := range paperNotes(pg) {
		for _, r := range l {
			if _, ok := face.GlyphAdvance(r); !ok {
				t.Errorf("%q in %q has no glyph in the paper font: it would print as □", r, l)
			}
		}
		if w := font.MeasureString(face, l).Ceil(); w > paperWidth-2*paperMargin {
			t.Errorf("%q is %d px wide, more than the %d px between the margins", l, w, paperWidth-2*paperMargin)
		}
	}
	han := false
	for _, r := range notes {
		han = han || unicode.Is(unicode.Han, r)
	}
	if !han {
		t.Error("the notes have no Chinese")
	}
	raw, err := renderPaper(pg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
}
