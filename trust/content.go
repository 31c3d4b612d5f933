package trust

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// Status is the health status colour a code shows.
type Status string

// Status colours.
const (
	Green  Status = "green"
	Yellow Status = "yellow"
	Red    Status = "red"
)

// Valid reports whether s is a defined colour.
func (s Status) Valid() bool { return s == Green || s == Yellow || s == Red }

// Content is the encrypted part of a code: only what a scanner may show.
// It never holds a full name, ID number, phone number or birth date.
type Content struct {
	Status Status `json:"st"`
	Name   string `json:"dn"`  // masked display name, e.g. 张*
	Doc    string `json:"doc"` // masked document number, e.g. ****1234
}

// Validate refuses content that is not already masked, so a caller cannot
// put personal data into a code by mistake.
func (c Content) Validate() error {
	if !c.Status.Valid() {
		return fmt.Errorf("content: status %q", c.Status)
	}
	if n := utf8.RuneCountInString(c.Name); n == 0 || n > 8 || !isMaskedName(c.Name) {
		return fmt.Errorf("content: display name is not masked")
	}
	if !isMaskedDoc(c.Doc) {
		return fmt.Errorf("content: document number is not masked")
	}
	return nil
}

// ContentKeyLen is the size of a content key: AES-256.
const ContentKeyLen = 32

// ContentKey is a province's symmetric key for one epoch. Codes carry their
// content encrypted under it; only member nodes receive it.
type ContentKey struct {
	ID        string // "<province>/<epoch>"
	Key       []byte // ContentKeyLen bytes
	NotBefore time.Time
	Expires   time.Time // no code encrypted under it outlives this
}

// ContentKeyID names the content key of province for epoch.
func ContentKeyID(province, epoch string) string { return province + "/" + epoch }

// NewContentKey draws a fresh content key from r (crypto/rand if nil).
func NewContentKey(id string, nbf, exp time.Time, r io.Reader) (ContentKey, error) {
	if r == nil {
		r = rand.Reader
	}
	k := make([]byte, ContentKeyLen)
	if _, err := io.ReadFull(r, k); err != nil {
		return ContentKey{}, fmt.Errorf("content key: %w", err)
	}
	return ContentKey{ID: id, Key: k, NotBefore: nbf, Expires: exp}, nil
}

var (
	contentKeyAlgs = []jose.KeyAlgorithm{jose.DIRECT}
	contentEncs    = []jose.ContentEncryption{jose.A256GCM}
)

// newContentEncrypter prepares dir/A256GCM encryption under ck.
func newContentEncrypter(ck ContentKey) (jose.Encrypter, error) {
	if len(ck.Key) != ContentKeyLen {
		return nil, fmt.Errorf("content key %s: want %d bytes", ck.ID, ContentKeyLen)
	}
	rcpt := jose.Recipient{Algorithm: jose.DIRECT, Key: ck.Key, KeyID: ck.ID}
	return jose.NewEncrypter(jose.A256GCM, rcpt, nil)
}

// openContent decrypts the ct claim of a code issued by iss.
func openContent(ct, iss string, keys map[string]ContentKey) (Content, Reason) {
	if len(ct) > MaxCodeLen {
		return Content{}, ReasonMalformed
	}
	jwe, err := jose.ParseEncryptedCompact(ct, contentKeyAlgs, contentEncs)
	if err != nil {
		return Content{}, ReasonBadContent
	}
	kid := jwe.Header.KeyID
	ck, ok := keys[kid]
	if !ok || !strings.HasPrefix(kid, iss+"/") {
		return Content{}, ReasonNoContentKey
	}
	plain, err := jwe.Decrypt(ck.Key)
	if err != nil {
		return Content{}, ReasonBadContent
	}
	var c Content
	if err := decodeStrict(plain, &c); err != nil {
		return Content{}, ReasonBadContent
	}
	if c.Validate() != nil {
		return Content{}, ReasonBadContent
	}
	return c, ReasonOK
}
