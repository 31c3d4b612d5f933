package trust

import (
	"crypto/ecdsa"
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
)

// jweDots is how many dots a compact JWE has: five parts.
const jweDots = 4

// sealTo encrypts plain, of content type cty, to the enc key to.
func sealTo(plain []byte, cty string, to *ecdsa.PublicKey) (string, error) {
	return sealTyped(plain, cty, "", to)
}

// sealTyped is sealTo with an envelope typ as well, unless typ is empty:
// a routing hint readable without the key (IsSealedErasure).
func sealTyped(plain []byte, cty, typ string, to *ecdsa.PublicKey) (string, error) {
	kid, err := Thumbprint(to)
	if err != nil {
		return "", err
	}
	rcpt := jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: to, KeyID: kid}
	opts := (&jose.EncrypterOptions{}).WithContentType(jose.ContentType(cty))
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

// openSealed decrypts what sealTo made with encKey and returns the
// plaintext — for a sealed statement the inner compact JWS, not yet
// verified. It checks size and shape before any parsing, and accepts only
// ECDH-ES+A256KW with A256GCM and content type cty. Anything encrypted to
// another key fails with ReasonNotRecipient.
func openSealed(raw, cty string, encKey *ecdsa.PrivateKey, maxLen int) (string, error) {
	if len(raw) > maxLen {
		return "", fail(ReasonOversized, fmt.Sprintf("%d bytes, limit %d", len(raw), maxLen))
	}
	if strings.Count(raw, ".") != jweDots || strings.ContainsAny(raw, "\r\n") {
		return "", fail(ReasonMalformed, "not a compact JWE")
	}
	if encKey == nil {
		return "", fail(ReasonNotRecipient, "this node has no encryption key")
	}
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, contentEncs)
	if err != nil {
		return "", fail(ReasonMalformed, "sealed statement: "+err.Error())
	}
	if got, _ := jwe.Header.ExtraHeaders[jose.HeaderContentType].(string); got != cty {
		return "", fail(ReasonBadHeader, fmt.Sprintf("sealed cty %q, want %q", got, cty))
	}
	inner, err := jwe.Decrypt(encKey)
	if err != nil {
		return "", fail(ReasonNotRecipient, "sealed statement does not decrypt with this node's key")
	}
	return string(inner), nil
}
