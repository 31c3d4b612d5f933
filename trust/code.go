package trust

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Claims is the signed payload of a health code. Everything but CT is in
// clear for any reader: issuing province, an id (NewCodeID: its issuance
// time and 80 random bits) and validity — never anything about the person
// (seed rule 1).
type Claims struct {
	Issuer   string `json:"iss"`
	JTI      string `json:"jti"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Version  int    `json:"v"`
	CT       string `json:"ct"` // compact JWE of Content
}

// JTILen is the size of a code id before encoding: 128 bits.
const JTILen = 16

// NewJTI draws a 128-bit id from r (crypto/rand if nil), base64url: a
// nonce, or a code id in tests; the node makes code ids with NewCodeID.
func NewJTI(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, JTILen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// codeIDTimeLen is how many of a code id's bytes NewCodeID takes from the
// issuance time: 48 bits of Unix milliseconds, as in a UUIDv7 (RFC 9562).
const codeIDTimeLen = 6

// NewCodeID makes the id of a code issued at t: JTILen bytes whose first
// six are t in Unix milliseconds, big-endian, and whose other 80 bits are
// drawn from r (crypto/rand if nil), base64url as NewJTI's. Codes issued
// in the same milliseconds sit side by side in the issuing node's index of
// code ids, so a group commit of many codes writes a few of its pages
// instead of one each. The time adds nothing a reader of the code lacks:
// its iat and exp are in clear. Nonces, which carry no time, use NewJTI.
func NewCodeID(t time.Time, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [JTILen]byte
	ms := uint64(t.UnixMilli())
	for i := range codeIDTimeLen {
		b[i] = byte(ms >> (8 * (codeIDTimeLen - 1 - i)))
	}
	if _, err := io.ReadFull(r, b[codeIDTimeLen:]); err != nil {
		return "", fmt.Errorf("jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// isJTI reports whether s is a code id as NewJTI makes them: JTILen bytes
// in strict, unpadded base64url. Revocation matches on it exactly, so it
// has one spelling.
func isJTI(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(JTILen) {
		return false
	}
	var b [JTILen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s))
	return err == nil && n == JTILen
}

// CodeIssuer signs codes for one province with one signing key, encrypting
// their content under one content key. Build a new one when either key
// changes. It is safe for concurrent use.
type CodeIssuer struct {
	province string
	signer   *StatementSigner
	keyExp   time.Time
	ck       ContentKey
}

// NewCodeIssuer prepares issuance for province. keyExpires is when the
// signing key stops verifying: no code may outlive it.
func NewCodeIssuer(province string, signer *StatementSigner, keyExpires time.Time, ck ContentKey) (*CodeIssuer, error) {
	if err := checkContentKey(ck); err != nil {
		return nil, err
	}
	return &CodeIssuer{province: province, signer: signer, keyExp: keyExpires, ck: ck.withAEAD()}, nil
}

// KeyID is the thumbprint of the key that signs.
func (ci *CodeIssuer) KeyID() string { return ci.signer.KeyID() }

// ContentKeyID is the id of the content key codes are encrypted under.
func (ci *CodeIssuer) ContentKeyID() string { return ci.ck.ID }

// Expiry is the expiry Issue gives a code issued at iat and asked to
// expire at exp, as its claims carry it: cut as Issue cuts it, to the
// second. Not after iat if the keys expire before the code would start
// (Issue then refuses).
func (ci *CodeIssuer) Expiry(iat, exp time.Time) time.Time {
	return time.Unix(ci.cut(iat, exp).Unix(), 0)
}

// cut cuts exp to MaxCodeLifetime after iat and to the signing key's
// and content key's remaining life.
func (ci *CodeIssuer) cut(iat, exp time.Time) time.Time {
	if exp.Sub(iat) > MaxCodeLifetime {
		exp = iat.Add(MaxCodeLifetime)
	}
	for _, limit := range []time.Time{ci.keyExp, ci.ck.Expires} {
		if !limit.IsZero() && exp.After(limit) {
			exp = limit
		}
	}
	return exp
}

// Issue makes the text of a code ("HCF1:" + compact JWS). The validity is
// cut to the signing key's and content key's remaining life.
func (ci *CodeIssuer) Issue(jti string, iat, exp time.Time, c Content) (string, Claims, error) {
	if err := c.Validate(); err != nil {
		return "", Claims{}, err
	}
	if !isJTI(jti) {
		return "", Claims{}, fmt.Errorf("issue: jti %q is not %d bytes of base64url (use NewJTI)", jti, JTILen)
	}
	exp = ci.cut(iat, exp)
	if !exp.After(iat) {
		return "", Claims{}, fmt.Errorf("issue: signing or content key expires before the code would start")
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return "", Claims{}, err
	}
	ct, err := sealContent(ci.ck, plain)
	if err != nil {
		return "", Claims{}, fmt.Errorf("encrypt content: %w", err)
	}
	cl := Claims{Issuer: ci.province, JTI: jti, IssuedAt: iat.Unix(), Expires: exp.Unix(), Version: FormatVersion, CT: ct}
	jws, err := ci.signer.Sign(TypCode, cl)
	if err != nil {
		return "", Claims{}, err
	}
	return CodePrefix + jws, cl, nil
}
