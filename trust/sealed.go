package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// A sealed statement is a signed compact statement, encrypted as a whole
// to one node's enc key: a compact JWE (ECDH-ES+A256KW, A256GCM) with
// "cty":"JWT" whose plaintext is the JWS (RFC 7519 section 5.2, a nested
// JWT). Statements between two nodes only — lookups, receipts — are
// sealed because every member can read every federation subject: the
// signature says who sent it, the encryption that nobody else reads it.
// The recipient decrypts first and then verifies the inner statement
// exactly like any other, typ included.

// Content types of sealed payloads.
const (
	sealedCty  = "JWT"                // a signed statement inside
	contactCty = "hcfed-contact+json" // a lookup answer's Contact
	// grantKeyCty is a content-key grant's: each key is sealed with no
	// cty header at all, as grants always were, so that grants made
	// before this codec served them open the same.
	grantKeyCty = ""
)

// jweDots is how many dots a compact JWE has: five parts.
const jweDots = 4

// sealTo encrypts plain, of content type cty, to the enc key to.
func sealTo(plain []byte, cty string, to *ecdsa.PublicKey) (string, error) {
	return sealTyped(plain, cty, "", to)
}

// sealTyped is sealTo with an envelope typ as well, unless typ is empty:
// a routing hint readable without the key (IsSealedErasure). An empty
// cty writes no cty header (grantKeyCty).
func sealTyped(plain []byte, cty, typ string, to *ecdsa.PublicKey) (string, error) {
	kid, err := Thumbprint(to)
	if err != nil {
		return "", err
	}
	rcpt := jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: to, KeyID: kid}
	opts := &jose.EncrypterOptions{}
	if cty != "" {
		opts = opts.WithContentType(jose.ContentType(cty))
	}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, rcpt, opts)
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return obj.CompactSerialize()
}

// sealStatement validates v, signs it as a statement of typ and seals
// it, as a sealed statement (sealedCty) with envelope typ envTyp unless
// empty, to the enc key to: the writing side of openAddressed and
// OpenLookupRequest.
func sealStatement(s *StatementSigner, typ string, v interface{ Validate() error }, envTyp string, to *ecdsa.PublicKey) (string, error) {
	if err := v.Validate(); err != nil {
		return "", err
	}
	jws, err := s.Sign(typ, v)
	if err != nil {
		return "", err
	}
	return sealTyped([]byte(jws), sealedCty, envTyp, to)
}

// openSealed decrypts what sealTo made with encKey and returns the
// plaintext — for a sealed statement the inner compact JWS, not yet
// verified. Anything encrypted to another key fails with
// ReasonNotRecipient. See openJWE.
func openSealed(raw, cty string, encKey *ecdsa.PrivateKey, maxLen int) (string, error) {
	inner, err := openJWE(raw, "sealed statement", cty, encKey, maxLen, ReasonNotRecipient)
	return string(inner), err
}

// openJWE is the one reader of what sealTyped writes. It checks size and
// shape before any parsing, holds the header to the members sealTyped
// writes (checkJWEHeader), and accepts only ECDH-ES+A256KW with A256GCM
// and content type cty (none at all if cty is empty). What does not
// decrypt with encKey, or finds no key to try, fails with undecryptable.
// what names raw in refusals.
func openJWE(raw, what, cty string, encKey *ecdsa.PrivateKey, maxLen int, undecryptable Reason) ([]byte, error) {
	if len(raw) > maxLen {
		return nil, fail(ReasonOversized, fmt.Sprintf("%s: %d bytes, limit %d", what, len(raw), maxLen))
	}
	if strings.Count(raw, ".") != jweDots || strings.ContainsAny(raw, "\r\n") {
		return nil, fail(ReasonMalformed, what+": not a compact JWE")
	}
	if err := checkJWEHeader(raw, what); err != nil {
		return nil, err
	}
	if encKey == nil {
		return nil, fail(undecryptable, "this node has no encryption key")
	}
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, contentEncs)
	if err != nil {
		return nil, fail(ReasonMalformed, what+": "+err.Error())
	}
	got, present := jwe.Header.ExtraHeaders[jose.HeaderContentType]
	if gotCty, _ := got.(string); gotCty != cty || (cty == "" && present) {
		return nil, fail(ReasonBadHeader, fmt.Sprintf("%s: cty %q, want %q", what, gotCty, cty))
	}
	inner, err := jwe.Decrypt(encKey)
	if err != nil {
		return nil, fail(undecryptable, what+" does not decrypt with this node's key")
	}
	return inner, nil
}

// jweHeader is every member the protected header of what sealTyped
// writes may carry.
type jweHeader struct {
	Alg string          `json:"alg"`
	Enc string          `json:"enc"`
	Epk json.RawMessage `json:"epk"`
	Kid string          `json:"kid"`
	Cty string          `json:"cty"`
	Typ string          `json:"typ"`
}

// checkJWEHeader refuses (bad_header) a compact JWE whose protected
// header carries a member sealTyped never writes, or a member twice or
// mis-cased (DecodeJSON), before go-jose reads it: go-jose acts on "zip"
// (it inflates the plaintext, up to 250 kB from a few kB) and keeps any
// other member, so a header of the sender's choosing would otherwise
// open. A header that is no JSON object at all is malformed. what names
// raw in refusals.
func checkJWEHeader(raw, what string) error {
	h64, _, _ := strings.Cut(raw, ".")
	hb, err := b64url.DecodeString(h64)
	if err != nil || !json.Valid(hb) {
		return fail(ReasonMalformed, what+": header is not base64url JSON")
	}
	var h jweHeader
	if err := DecodeJSON(hb, &h); err != nil {
		return fail(ReasonBadHeader, what+": header: "+err.Error())
	}
	return nil
}
