package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"time"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/hcfed/hcfed/node/paperfont"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Paper page geometry: A6 (105 × 148 mm) at 150 dpi.
const (
	paperWidth  = 620
	paperHeight = 874
	paperBand   = 150 // height of the status colour band
	paperQRMax  = 440 // the QR's largest side, quiet zone included
	paperMargin = 40  // left and right margin of the text
)

// paperZone is the time zone printed on paper codes: China Standard Time,
// which every province keeps.
var paperZone = time.FixedZone("UTC+8", 8*3600)

// paper renders the page of codes.paperCode: the page, and the subject
// whose code it is.
func (c *codes) paper(ctx context.Context, p Principal, jti string) ([]byte, string, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, "", err
	}
	row, err := c.db.Code(ctx, jti)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (row.SubjectID == "" || !row.Paper)) {
		return nil, "", Errorf(ENotFound, "no such paper code; issue one with {\"paper\":true}")
	}
	if err != nil {
		return nil, "", internal("paper", err)
	}
	_, dk, err := loadSubjectWithKey(ctx, c.db, c.kek, row.SubjectID)
	if err != nil {
		return nil, "", err
	}
	text, err := dk.Open(codeAAD(row.SubjectID, jti), row.TextCT)
	if err != nil {
		return nil, "", internal("paper", err)
	}
	res := trust.Verify(string(text), c.state.Snapshot(), c.state, c.now())
	if !res.Valid() {
		return nil, "", Errorf(ENotFound, "this code no longer verifies (%s); issue a new one", res.Reason)
	}
	page, err := renderPaper(paperPage{Code: string(text), Province: res.Issuer,
		ProvinceName: c.state.Snapshot().Members[res.Issuer].Name, Content: res.Content,
		From: res.IssuedAt, Until: res.Expires})
	if err != nil {
		return nil, "", internal("paper", err)
	}
	return page, row.SubjectID, nil
}

// RevokePaperCodes withdraws a resident's live paper codes, and none of
// their phone codes: a printed code that was lost or stolen stops
// verifying at this node at once and at every peer when the revocation
// arrives, as after a status change. The operator then prints a new one.
// It returns how many codes it revoked (0 when the resident held none).
// Only an operator, who prints paper codes, withdraws them.
func (n *Node) RevokePaperCodes(ctx context.Context, p Principal, subjectID string) (int, error) {
	return n.residents.revokePaper(ctx, p, subjectID)
}

// revokePaper implements Node.RevokePaperCodes.
func (r *residents) revokePaper(ctx context.Context, p Principal, subjectID string) (int, error) {
	if err := require(p, RoleOperator); err != nil {
		return 0, err
	}
	rev, err := r.db.RevokePaperCodes(ctx, subjectID, r.now(), r.auditEntry(p.Actor(), "code.revoke_paper", subjectID, nil))
	if errors.Is(err, store.ErrNotFound) {
		return 0, Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return 0, internal("revoke paper codes", err)
	}
	if rev == nil {
		return 0, nil
	}
	r.revoked(ctx, rev)
	return len(rev.Entries), nil
}

// paperPage is what a printed code shows.
type paperPage struct {
	Code         string
	Province     string // the issuer's id
	ProvinceName string // its name in the trust list
	Content      trust.Content
	From, Until  time.Time
}

// paperNameMax bounds the province name printed, in characters: a long
// name in the trust list must not run off the page.
const paperNameMax = 24

// paperNotes is the fine print at the foot of a paper page, in Chinese
// and in English, for the guard and for the holder, who has no phone to
// look anything up: the scan decides, not the printed colour (the status
// may have changed since, and a changed status or a withdrawn code
// revokes the paper too); and where a new one comes from when this one
// expires or is lost. It says nothing the code does not: the issuing
// province only.
func paperNotes(pg paperPage) []string {
	name := []rune(pg.ProvinceName)
	if len(name) > paperNameMax {
		name = name[:paperNameMax]
	}
	where := pg.Province
	if len(name) > 0 {
		where = string(name) + " (" + pg.Province + ")"
	}
	return []string{
		"纸质健康码, 不含明文个人信息. 以扫码核验结果为准:",
		"颜色为打印时的状态, 状态变化或挂失后即失效.",
		"过期或遗失: 请到签发省份 " + pg.Province + " 的健康码服务点重新打印.",
		"Paper health code, no personal data in clear. A scan decides:",
		"the colour is the status when printed; a status change or a loss",
		"withdraws it. Expired or lost? A health-code service point of",
		where + " prints a new one.",
	}
}

// statusInk is each status's band colour and the colour of text on it.
var statusInk = map[trust.Status]struct {
	band, text color.RGBA
	zh         string
}{
	trust.Green:  {color.RGBA{0x1b, 0x9e, 0x4b, 0xff}, color.RGBA{0xff, 0xff, 0xff, 0xff}, "绿码"},
	trust.Yellow: {color.RGBA{0xf5, 0xc5, 0x18, 0xff}, color.RGBA{0x00, 0x00, 0x00, 0xff}, "黄码"},
	trust.Red:    {color.RGBA{0xd7, 0x30, 0x27, 0xff}, color.RGBA{0xff, 0xff, 0xff, 0xff}, "红码"},
}

// renderPaper draws the page. Latin text uses basicfont; the masked name
// and the status in Chinese use paperfont, a 12-pixel bitmap font with
// the CJK ideographs. Both are scaled up by whole pixels so they stay
// sharp on paper.
func renderPaper(pg paperPage) ([]byte, error) {
	ink, ok := statusInk[pg.Content.Status]
	if !ok {
		return nil, fmt.Errorf("paper: unknown status %q", pg.Content.Status)
	}
	img := image.NewRGBA(image.Rect(0, 0, paperWidth, paperHeight))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, 0, paperWidth, paperBand), image.NewUniform(ink.band), image.Point{}, draw.Src)

	cjk, err := paperfont.Face()
	if err != nil {
		return nil, err
	}
	latin := basicfont.Face7x13
	black := color.RGBA{0, 0, 0, 0xff}
	status := map[trust.Status]string{trust.Green: "GREEN", trust.Yellow: "YELLOW", trust.Red: "RED"}[pg.Content.Status]
	x := 32 + drawText(img, latin, status, 32, 30, 6, ink.text)
	drawText(img, cjk, ink.zh, x+28, 35, 6, ink.text)

	qr, err := qrImage(pg.Code, paperQRMax)
	if err != nil {
		return nil, err
	}
	at := image.Pt((paperWidth-qr.Bounds().Dx())/2, paperBand+10)
	draw.Draw(img, qr.Bounds().Add(at), qr, image.Point{}, draw.Src)

	y := at.Y + qr.Bounds().Dy() + 8
	lines := []struct {
		face  font.Face
		scale int
		text  string
	}{
		{cjk, 3, pg.Content.Name + "  " + pg.Content.Doc},
		{latin, 2, "Province " + pg.Province},
		{latin, 2, "From  " + pg.From.In(paperZone).Format("2006-01-02 15:04") + " UTC+8"},
		{latin, 2, "Until " + pg.Until.In(paperZone).Format("2006-01-02 15:04") + " UTC+8"},
	}
	for _, l := range lines {
		drawText(img, l.face, l.text, paperMargin, y, l.scale, black)
		y += l.scale*l.face.Metrics().Height.Ceil() + 8
	}
	notes := paperNotes(pg)
	y = paperHeight - 12 - len(notes)*(cjk.Metrics().Height.Ceil()+2)
	for _, l := range notes {
		drawText(img, cjk, l, paperMargin, y, 1, black)
		y += cjk.Metrics().Height.Ceil() + 2
	}

	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("paper: %w", err)
	}
	return buf.Bytes(), nil
}

// drawText draws s with face at (x, y) (the top left of its line), scaled
// by a whole factor, and returns its scaled width.
func drawText(dst draw.Image, face font.Face, s string, x, y, scale int, c color.Color) int {
	m := face.Metrics()
	w, h := font.MeasureString(face, s).Ceil(), m.Height.Ceil()
	if w == 0 || h == 0 {
		return 0
	}
	mask := image.NewAlpha(image.Rect(0, 0, w, h))
	(&font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.Point26_6{Y: m.Ascent}}).DrawString(s)
	big := image.NewAlpha(image.Rect(0, 0, w*scale, h*scale))
	xdraw.NearestNeighbor.Scale(big, big.Bounds(), mask, mask.Bounds(), draw.Src, nil)
	draw.DrawMask(dst, big.Bounds().Add(image.Pt(x, y)), image.NewUniform(c), image.Point{}, big, image.Point{}, draw.Over)
	return w * scale
}
