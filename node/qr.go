package node

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"sync"
	"sync/atomic"

	qrcode "github.com/yeqown/go-qrcode/v2"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// QR image geometry and cache bounds.
const (
	// qrModulePx is the side of one QR module on a phone screen.
	qrModulePx = 6
	// qrQuietModules is the quiet zone around a QR, in modules (the
	// standard asks for four).
	qrQuietModules = 4
	// maxQRCached bounds the rendered QR images kept in memory (a few
	// kilobytes each: a few megabytes in all).
	maxQRCached = 1024
)

// QRPNG renders text as a QR code PNG with error-correction level M and a
// four-module quiet zone, sized for a phone screen.
func QRPNG(text string) ([]byte, error) {
	img, err := qrImagePx(text, qrModulePx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return buf.Bytes(), nil
}

// qrImage renders text as a QR code (error correction M) with whole-pixel
// modules and a quiet zone, at most side pixels square.
func qrImage(text string, side int) (image.Image, error) {
	bits, err := qrModules(text)
	if err != nil {
		return nil, err
	}
	return drawQR(bits, max(side/(len(bits)+2*qrQuietModules), 1)), nil
}

// qrImagePx renders text as a QR code with px pixels a module.
func qrImagePx(text string, px int) (image.Image, error) {
	bits, err := qrModules(text)
	if err != nil {
		return nil, err
	}
	return drawQR(bits, px), nil
}

// qrModules encodes text (error correction M) into its module matrix,
// true for dark. Only the encoder of go-qrcode is used; the image is ours.
func qrModules(text string) ([][]bool, error) {
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	var w matrixWriter
	if err := q.Save(&w); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return w.bits, nil
}

// drawQR draws a module matrix in black on white, px pixels a module,
// with the quiet zone.
func drawQR(bits [][]bool, px int) *image.Gray {
	modules := len(bits) + 2*qrQuietModules
	img := image.NewGray(image.Rect(0, 0, modules*px, modules*px))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for y, row := range bits {
		for x, set := range row {
			if set {
				r := image.Rect((x+qrQuietModules)*px, (y+qrQuietModules)*px, (x+qrQuietModules+1)*px, (y+qrQuietModules+1)*px)
				draw.Draw(img, r, image.Black, image.Point{}, draw.Src)
			}
		}
	}
	return img
}

// matrixWriter keeps the QR's modules instead of writing a file.
type matrixWriter struct{ bits [][]bool }

func (m *matrixWriter) Write(mat qrcode.Matrix) error { m.bits = mat.Bitmap(); return nil }
func (m *matrixWriter) Close() error                  { return nil }

// qr implements Node.CodeQR.
func (c *codes) qr(ctx context.Context, p Principal, jti string) ([]byte, error) {
	if err := require(p, RoleOperator, RoleResident); err != nil {
		return nil, err // whatever the code: a scanner learns nothing of it
	}
	// Another resident's code is answered as an unknown one, word for
	// word, so that the answer does not tell whether a code id exists.
	row, err := c.db.Code(ctx, jti)
	if errors.Is(err, store.ErrNotFound) || (err == nil && row.SubjectID == "") {
		c.qrs.forget(jti)
		return nil, Errorf(ENotFound, "no such code")
	}
	// A paper code's image is the operator's who prints it at a service
	// point, never a resident's: a wallet link, or whoever holds the
	// phone it is on, would otherwise get a copy of a code that lives for
	// the paper lifetime and that replacing the link does not revoke.
	if err == nil && (requireSubject(p, row.SubjectID) != nil || (row.Paper && p.Role != RoleOperator)) {
		return nil, Errorf(ENotFound, "no such code")
	}
	if err != nil {
		return nil, internal("qr", err)
	}
	if row.Revoked || c.now().After(row.Expires) {
		c.qrs.forget(jti)
		return nil, Errorf(ENotFound, "this code is revoked or expired; issue a new one")
	}
	if c.keyCompromised(row.KID) {
		c.qrs.forget(jti)
		return nil, Errorf(ENotFound, "this code was signed by a key since withdrawn as compromised, so no scanner accepts it; issue a new one")
	}
	if png, ok := c.qrs.get(jti, row.SubjectID); ok {
		return png, nil
	}
	s, err := loadSubject(ctx, c.db, row.SubjectID)
	if err != nil {
		return nil, err
	}
	dk, err := openDataKey(c.kek, s)
	if err != nil {
		return nil, internal("qr", err)
	}
	text, err := dk.Open(codeAAD(s.ID, jti), row.TextCT)
	if err != nil {
		return nil, internal("qr", err)
	}
	png, err := QRPNG(string(text))
	if err != nil {
		return nil, internal("qr", err)
	}
	c.qrs.put(jti, row.SubjectID, png)
	return png, nil
}

// keyCompromised reports whether the node's own keyset, as its trust
// state holds it, marks signing key kid compromised. Such a key's codes
// are refused by every verifier (trust.ReasonKeyCompromised) but not
// revoked one by one, so the code row alone does not say they are dead:
// their image is refused as a revoked code's is, so that the wallet,
// which keeps showing the code it showed last while the node serves its
// image, issues a code of the new key instead.
func (c *codes) keyCompromised(kid string) bool {
	ks := c.state.Keyset(c.province)
	if ks == nil {
		return false
	}
	k, ok := ks.Signing[kid]
	return ok && k.State == trust.KeyCompromised
}

// qrCache is a bounded LRU of rendered QR images by code id. An image
// holds nothing but the code's own text; it is dropped when its code is
// revoked (residents.revoked, codes.forgetRevoked), its resident deleted,
// or when it is found revoked or expired on a read. The zero value is
// ready to use.
type qrCache struct {
	mu      sync.Mutex
	byJTI   map[string]*list.Element
	lru     list.List // of *qrEntry, most recently used first
	renders atomic.Int64
}

type qrEntry struct {
	jti, subject string
	png          []byte
}

// get returns the cached image of jti if it was rendered for subject.
func (q *qrCache) get(jti, subject string) ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	el, ok := q.byJTI[jti]
	if !ok || el.Value.(*qrEntry).subject != subject {
		return nil, false
	}
	q.lru.MoveToFront(el)
	return el.Value.(*qrEntry).png, true
}

// put caches a newly rendered image, evicting the least recently used
// beyond maxQRCached.
func (q *qrCache) put(jti, subject string, png []byte) {
	q.renders.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byJTI == nil {
		q.byJTI = map[string]*list.Element{}
	}
	if el, ok := q.byJTI[jti]; ok {
		q.lru.Remove(el)
	}
	q.byJTI[jti] = q.lru.PushFront(&qrEntry{jti: jti, subject: subject, png: png})
	for q.lru.Len() > maxQRCached {
		old := q.lru.Back()
		q.lru.Remove(old)
		delete(q.byJTI, old.Value.(*qrEntry).jti)
	}
}

// forget drops the images of the given codes.
func (q *qrCache) forget(jtis ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, jti := range jtis {
		if el, ok := q.byJTI[jti]; ok {
			q.lru.Remove(el)
			delete(q.byJTI, jti)
		}
	}
}

// forgetSubject drops every image of a resident's codes.
func (q *qrCache) forgetSubject(subject string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for el := q.lru.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*qrEntry); e.subject == subject {
			q.lru.Remove(el)
			delete(q.byJTI, e.jti)
		}
		el = next
	}
}

// len is how many images are cached.
func (q *qrCache) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lru.Len()
}
