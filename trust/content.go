package trust

import (
	"crypto/aes"
	"crypto/cipher"
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

	// aead is AES-256-GCM under Key, built once (withAEAD) where content
	// keys enter trust, so that Verify does not expand the key per code.
	// A ContentKey built as a literal has none and builds it per use.
	aead *contentAEAD
}

// contentAEAD is a content key's cipher and the key slice it was built
// from (the same array, not a copy), so that a ContentKey whose Key is
// replaced after the fact does not use the old key's cipher.
type contentAEAD struct {
	key    []byte
	cipher cipher.AEAD
}

// withAEAD returns ck with its cipher built, if Key is a whole AES-256
// key; otherwise ck unchanged, to fail where it is used as before.
func (ck ContentKey) withAEAD() ContentKey {
	if ck.aead.builtFrom(ck.Key) {
		return ck
	}
	ck.aead = nil
	if a, err := newGCM(ck.Key); err == nil {
		ck.aead = &contentAEAD{key: ck.Key, cipher: a}
	}
	return ck
}

// gcm is AES-256-GCM under ck.Key: the cipher built by withAEAD if it was
// built from this Key, else a new one.
func (ck *ContentKey) gcm() (cipher.AEAD, error) {
	if ck.aead.builtFrom(ck.Key) {
		return ck.aead.cipher, nil
	}
	return newGCM(ck.Key)
}

// builtFrom reports whether a is the cipher of exactly this key slice.
func (a *contentAEAD) builtFrom(key []byte) bool {
	return a != nil && len(a.key) == len(key) && len(key) > 0 && &a.key[0] == &key[0]
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
	return ContentKey{ID: id, Key: k, NotBefore: nbf, Expires: exp}.withAEAD(), nil
}

// contentEncs is the only content encryption HCFed uses.
var contentEncs = []jose.ContentEncryption{jose.A256GCM}

// Values of a code's content header.
const (
	algDir     = "dir"
	encA256GCM = "A256GCM"
)

// contentHeaderNames are the members of a code content header, in order.
var contentHeaderNames = []string{"alg", "enc", "kid"}

// contentHeader is the only protected header a code's ct may carry.
type contentHeader struct {
	Alg string `json:"alg"`
	Enc string `json:"enc"`
	Kid string `json:"kid"`
}

// checkContentKey refuses a content key that cannot encrypt codes.
func checkContentKey(ck ContentKey) error {
	if len(ck.Key) != ContentKeyLen {
		return fmt.Errorf("content key %s: want %d bytes", ck.ID, ContentKeyLen)
	}
	if ck.ID == "" || !isPlainValue(ck.ID) {
		return fmt.Errorf("content key id %q: not a plain header value", ck.ID)
	}
	return nil
}

// sealContent encrypts plain under ck as the compact JWE openContent
// reads: alg dir, enc A256GCM, kid ck.ID, in canonical form, the
// protected header as additional data (RFC 7516 section 5.1).
func sealContent(ck ContentKey, plain []byte) (string, error) {
	if err := checkContentKey(ck); err != nil {
		return "", err
	}
	hb, err := marshalFields(contentHeaderNames, []string{algDir, encA256GCM, ck.ID})
	if err != nil {
		return "", err
	}
	aead, err := ck.gcm()
	if err != nil {
		return "", err
	}
	iv := make([]byte, gcmIVLen)
	if _, err := rand.Read(iv); err != nil {
		return "", fmt.Errorf("content iv: %w", err)
	}
	h64 := b64url.EncodeToString(hb)
	sealed := aead.Seal(nil, iv, plain, []byte(h64))
	n := len(sealed) - gcmTagLen
	return h64 + ".." + b64url.EncodeToString(iv) + "." + b64url.EncodeToString(sealed[:n]) + "." +
		b64url.EncodeToString(sealed[n:]), nil
}

// newGCM is AES-256-GCM under key.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != ContentKeyLen { // aes.NewCipher would quietly pick AES-128 or -192
		return nil, fmt.Errorf("content key: want %d bytes", ContentKeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// GCM parameters of A256GCM (RFC 7518 section 5.3).
const (
	gcmIVLen  = 12
	gcmTagLen = 16
)

// openContent decrypts the ct claim of a code issued by iss. The ct is a
// compact JWE with alg dir and enc A256GCM (RFC 7516 section 5.2) and a
// header of exactly alg, enc and kid in canonical form, every part in
// strict base64url: the one shape Issue writes. It is opened directly
// rather than by a general-purpose JWE parser, which would accept options
// (zip, other algorithms, unprotected headers) a code never has.
func openContent(ct, iss string, keys map[string]ContentKey) (Content, Reason) {
	if len(ct) > MaxCodeLen {
		return Content{}, ReasonMalformed
	}
	if strings.Count(ct, ".") != 4 || strings.ContainsAny(ct, "\r\n") {
		return Content{}, ReasonBadContent
	}
	h64, rest, _ := strings.Cut(ct, ".")
	ek, rest, _ := strings.Cut(rest, ".")
	iv64, rest, _ := strings.Cut(rest, ".")
	c64, tag64, _ := strings.Cut(rest, ".")
	h, ok := decodeContentHeader(h64)
	if !ok || ek != "" { // dir carries no encrypted key
		return Content{}, ReasonBadContent
	}
	ck, found := keys[h.Kid]
	if !found || !strings.HasPrefix(h.Kid, iss+"/") {
		return Content{}, ReasonNoContentKey
	}
	plain, ok := openGCM(&ck, h64, iv64, c64, tag64)
	if !ok {
		return Content{}, ReasonBadContent
	}
	// Content is what Issue marshalled: canonical, which refuses unknown
	// fields, and masked.
	var c Content
	if !decodeContent(plain, &c) || c.Validate() != nil {
		return Content{}, ReasonBadContent
	}
	return c, ReasonOK
}

// decodeContentHeader reads a ct header, held to canonical form like a
// JWS header so that no two parsers can read it differently.
func decodeContentHeader(h64 string) (contentHeader, bool) {
	hb, err := b64url.DecodeString(h64)
	if err != nil {
		return contentHeader{}, false
	}
	var v [3]string // contentHeaderNames
	if !unmarshalFieldsInto(hb, contentHeaderNames, v[:]) {
		return contentHeader{}, false
	}
	h := contentHeader{Alg: v[0], Enc: v[1], Kid: v[2]}
	return h, h.Alg == algDir && h.Enc == encA256GCM && h.Kid != ""
}

// openGCM authenticates and decrypts one A256GCM JWE body under ck; the
// additional data is the encoded protected header (RFC 7516 section 5.2
// step 14). The ciphertext and tag are decoded into one buffer and
// decrypted in place.
func openGCM(ck *ContentKey, h64, iv64, c64, tag64 string) ([]byte, bool) {
	// The lengths are checked before decoding: Decode writes up to
	// DecodedLen bytes. Success, with no line breaks (openContent refused
	// them), decodes exactly DecodedLen bytes.
	if b64url.DecodedLen(len(iv64)) != gcmIVLen || b64url.DecodedLen(len(tag64)) != gcmTagLen {
		return nil, false
	}
	cn := b64url.DecodedLen(len(c64))
	buf := make([]byte, cn+gcmTagLen+gcmIVLen)
	iv := buf[cn+gcmTagLen:]
	if _, err := b64url.Decode(iv, []byte(iv64)); err != nil {
		return nil, false
	}
	n1, err1 := b64url.Decode(buf[:cn+gcmTagLen], []byte(c64))
	n2, err2 := b64url.Decode(buf[n1:cn+gcmTagLen], []byte(tag64))
	if err1 != nil || err2 != nil || n2 != gcmTagLen {
		return nil, false
	}
	aead, err := ck.gcm()
	if err != nil {
		return nil, false
	}
	sealed := buf[:n1+n2]
	plain, err := aead.Open(sealed[:0], iv, sealed, []byte(h64))
	return plain, err == nil
}
