package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	qrcode "github.com/yeqown/go-qrcode/v2"
	"github.com/yeqown/go-qrcode/writer/standard"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// QRPNG renders text as a QR code PNG with error-correction level M and a
// quiet zone, sized for a phone screen.
func QRPNG(text string) ([]byte, error) {
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	var buf bytes.Buffer
	w := standard.NewWithWriter(nopCloser{&buf}, standard.WithBuiltinImageEncoder(standard.PNG_FORMAT),
		standard.WithQRWidth(6), standard.WithBorderWidth(24))
	if err := q.Save(w); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return buf.Bytes(), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func codeAAD(subjectID, jti string) []byte { return []byte("subject:" + subjectID + ":code:" + jti) }

// CodeQR renders one of a resident's codes as a QR image, for the
// resident or an operator. The code's text is kept sealed under the
// resident's data key, so deleting the resident makes it unreadable.
func (n *Node) CodeQR(ctx context.Context, p Principal, jti string) ([]byte, error) {
	if err := require(p, RoleOperator, RoleResident); err != nil {
		return nil, err // whatever the code: a scanner learns nothing of it
	}
	// Another resident's code is answered as an unknown one, word for
	// word, so that the answer does not tell whether a code id exists.
	c, err := n.db.Code(ctx, jti)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (c.SubjectID == "" || requireSubject(p, c.SubjectID) != nil)) {
		return nil, Errorf(ENotFound, "no such code")
	}
	if err != nil {
		return nil, internal("qr", err)
	}
	if c.Revoked || n.now().After(c.Expires) {
		return nil, Errorf(ENotFound, "this code is revoked or expired; issue a new one")
	}
	s, err := n.subject(ctx, c.SubjectID)
	if err != nil {
		return nil, err
	}
	dk, err := n.dataKey(s)
	if err != nil {
		return nil, internal("qr", err)
	}
	text, err := dk.Open(codeAAD(s.ID, jti), c.TextCT)
	if err != nil {
		return nil, internal("qr", err)
	}
	return QRPNG(string(text))
}

func (n *Node) dataKey(s store.Subject) (*seal.Key, error) {
	raw, err := n.kek.Open(fieldAAD(s.ID, "dk"), s.DataKey)
	if err != nil {
		return nil, err
	}
	return seal.NewKey(raw)
}
