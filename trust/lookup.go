package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Cross-province identity lookup (seed rules 6 and 11). When a visited
// province's health authority must reach a traveler — a red code, a close
// contact — its node asks the traveler's home node, the only one holding
// the traveler's name and phone number, with a stated legal basis and
// case. The request is signed by the asking province and sealed to the
// home node; the answer is signed by the home province and carries the
// contact data sealed once more, to the asking node's enc key. No other
// member reads either, and neither can be replayed outside a short window
// or passed off as the other (each has its own typ).

// Lookup limits.
const (
	// MaxLookupLen bounds a sealed lookup request and a lookup answer.
	MaxLookupLen = 16 << 10
	// MaxLegalBasisLen bounds the stated legal basis, in characters.
	MaxLegalBasisLen = 200
	// MaxCaseIDLen bounds the case id, in characters.
	MaxCaseIDLen = 64
	// LookupWindow is how old a lookup request or answer may be when it
	// arrives; the home node remembers each request's nonce this long, so
	// a request can be answered only once. A request dated more than
	// ClockSkew ahead is refused as well.
	LookupWindow = 5 * time.Minute
	// NonceLen is the size of a nonce before encoding: 128 bits.
	NonceLen = 16
)

// LookupRequest asks province To for the contact data of the holder of
// its code JTI. Issuer is the asking province, whose key signs it. Proof
// is the code's proof of scan (scanproof.go): a jti alone, which every
// member learns from revocation statements, is not enough to ask.
type LookupRequest struct {
	Issuer     string `json:"iss"`
	To         string `json:"to"`
	JTI        string `json:"jti"`
	Proof      string `json:"proof"`
	LegalBasis string `json:"legal_basis"`
	CaseID     string `json:"case_id"`
	IssuedAt   int64  `json:"iat"`
	Nonce      string `json:"nonce"`
}

// Validate checks the fields of a request, so that one that would be
// refused is never sent, in this order: a missing or unusable legal
// basis or case id is ReasonNoLegalBasis; a missing or malformed proof of
// scan ReasonLookupUnproven; anything else wrong is ReasonMalformed,
// before either.
func (r LookupRequest) Validate() error {
	if err := r.validateShape(); err != nil {
		return err
	}
	return r.validateGrounds()
}

// validateGrounds checks what the asker must state and show beyond the
// shape: its purpose, then its proof of scan.
func (r LookupRequest) validateGrounds() error {
	if err := r.validatePurpose(); err != nil {
		return err
	}
	if !ValidScanProof(r.Proof) {
		return fail(ReasonLookupUnproven, "proof must be a proof of scan: 32 bytes, base64url")
	}
	return nil
}

// validateShape checks what makes a request one to answer at all: who,
// to whom, which code, when, and a nonce to echo.
func (r LookupRequest) validateShape() error {
	switch {
	case !isProvinceID(r.Issuer) || !isProvinceID(r.To):
		return fail(ReasonMalformed, "iss and to must be province ids")
	case r.Issuer == r.To:
		return fail(ReasonMalformed, "a province does not look up its own residents over the federation")
	case !isJTI(r.JTI):
		return fail(ReasonMalformed, "jti is not a code id")
	case !isJTI(r.Nonce):
		return fail(ReasonMalformed, "nonce must be 16 bytes, base64url")
	case r.IssuedAt <= 0:
		return fail(ReasonMalformed, "iat missing")
	}
	return nil
}

// validatePurpose checks the stated purpose: a legal basis and a case.
func (r LookupRequest) validatePurpose() error {
	if err := checkText(r.LegalBasis, MaxLegalBasisLen); err != nil {
		return fail(ReasonNoLegalBasis, "legal_basis "+err.Error())
	}
	if err := checkText(r.CaseID, MaxCaseIDLen); err != nil {
		return fail(ReasonNoLegalBasis, "case_id "+err.Error())
	}
	return nil
}

// checkText holds a free-text field to 1..max printable characters, not
// blank, with no surrounding spaces.
func checkText(s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("is required")
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("has surrounding spaces")
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > max:
		return fmt.Errorf("must be at most %d characters of valid UTF-8", max)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return fmt.Errorf("holds a control or unprintable character")
	}
	return nil
}

// NewNonce draws a 128-bit nonce from r (crypto/rand if nil), base64url.
func NewNonce(r io.Reader) (string, error) { return NewJTI(r) }

// ValidJTI reports whether s has the form of a code id.
func ValidJTI(s string) bool { return isJTI(s) }

// SealLookupRequest validates r, signs it as the asking province and
// seals it to the home node's enc key.
func SealLookupRequest(s *StatementSigner, r LookupRequest, homeEnc *ecdsa.PublicKey) (string, error) {
	return sealStatement(s, TypLookup, r, "", homeEnc)
}

// OpenLookupRequest decrypts a sealed request with self's encKey and
// verifies it: typ, signed by one of asker's keys, issued in asker's name
// and addressed to self, fields valid, and issued within LookupWindow of
// now. asker is the province named by the subject the request came on.
// Replays within the window are the caller's to refuse (ReplayCache).
//
// A request that passes every check but its grounds — no usable legal
// basis or case (ReasonNoLegalBasis), or no well-formed proof of scan
// (ReasonLookupUnproven) — is returned together with that error, so that
// the home node can sign its refusal; on any other error the request is
// nil. Whether the proof is that of the code is the home node's to check
// (CheckScanProof), against the digest it stored.
func OpenLookupRequest(raw, asker string, askerKeys map[string]*Key, self string, encKey *ecdsa.PrivateKey, now time.Time) (*LookupRequest, error) {
	inner, err := openSealed(raw, sealedCty, encKey, MaxLookupLen)
	if err != nil {
		return nil, err
	}
	var r LookupRequest
	if err := ParseSigned(inner, TypLookup, asker, askerKeys, &r); err != nil {
		return nil, err
	}
	if r.Issuer != asker {
		return nil, fail(ReasonWrongSigner, "request made in the name of "+r.Issuer)
	}
	if r.To != self {
		return nil, fail(ReasonNotRecipient, "request addressed to "+r.To)
	}
	if err := r.validateShape(); err != nil {
		return nil, err
	}
	if err := fresh(r.IssuedAt, now); err != nil {
		return nil, err
	}
	return &r, r.validateGrounds()
}

// fresh refuses a time more than LookupWindow old or more than ClockSkew
// ahead of now.
func fresh(iat int64, now time.Time) error {
	t := time.Unix(iat, 0)
	if now.Sub(t) > LookupWindow {
		return fail(ReasonExpired, fmt.Sprintf("issued %v ago, window %v", now.Sub(t).Round(time.Second), LookupWindow))
	}
	if t.Sub(now) > ClockSkew {
		return fail(ReasonNotYetValid, fmt.Sprintf("issued %v ahead", t.Sub(now).Round(time.Second)))
	}
	return nil
}

// Contact is the minimum a home node discloses: the name and phone number
// it holds, each only if it collected it. Never the ID number.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// validate bounds what an answer may carry.
func (c Contact) validate() error {
	if utf8.RuneCountInString(c.Name) > 64 || len(c.Phone) > 20 || !utf8.ValidString(c.Name) {
		return fail(ReasonMalformed, "contact fields out of bounds")
	}
	return nil
}

// LookupAnswer is the home province's signed reply to one request (echoing
// its nonce), addressed to the asking province. Data is the Contact
// sealed to the asker's enc key, present only when Found. Refused, when
// set, says why the home node would not answer (ReasonNotMember,
// ReasonRateLimited, ReasonReplayed...); Found is then false.
type LookupAnswer struct {
	Issuer   string `json:"iss"`
	To       string `json:"to"`
	Nonce    string `json:"nonce"`
	IssuedAt int64  `json:"iat"`
	Found    bool   `json:"found"`
	Data     string `json:"data,omitempty"`
	Refused  Reason `json:"refused,omitempty"`
}

// AnswerLookup signs the answer to req: found with c sealed to the
// asker's enc key, or not found when c is nil.
func AnswerLookup(s *StatementSigner, req *LookupRequest, askerEnc *ecdsa.PublicKey, c *Contact, now time.Time) (string, error) {
	a := LookupAnswer{Issuer: req.To, To: req.Issuer, Nonce: req.Nonce, IssuedAt: now.Unix()}
	if c != nil {
		if err := c.validate(); err != nil {
			return "", err
		}
		plain, err := json.Marshal(c)
		if err != nil {
			return "", err
		}
		if a.Data, err = sealTo(plain, contactCty, askerEnc); err != nil {
			return "", err
		}
		a.Found = true
	}
	return s.Sign(TypLookupAnswer, a)
}

// RefuseLookup signs a refusal of req, saying why.
func RefuseLookup(s *StatementSigner, req *LookupRequest, why Reason, now time.Time) (string, error) {
	if !isReasonToken(why) {
		return "", fmt.Errorf("refuse lookup: reason %q", why)
	}
	return s.Sign(TypLookupAnswer, LookupAnswer{Issuer: req.To, To: req.Issuer, Nonce: req.Nonce, IssuedAt: now.Unix(), Refused: why})
}

// LookupResult is what an answer says, once verified and decrypted.
type LookupResult struct {
	Found   bool
	Contact Contact
	Refused Reason // non-empty: the home node refused, and why
}

// OpenLookupAnswer verifies the answer to req, the request this node sent:
// typ, signed by one of the home province's keys (req.To), addressed to
// this node (req.Issuer), echoing req's nonce, issued within
// LookupWindow, and decrypts its contact data with this node's encKey. An
// error means the answer is not one to believe: the caller should wait
// for another.
//
// An answer to another request (an old answer replayed, a forgery
// flooded on the reply subject) is refused by its nonce before its
// signature is checked, for the price of decoding it: its payload is
// decoded once, strictly (DecodeJSON), before the signature check, and
// nothing of it but the nonce is looked at until that check holds.
func OpenLookupAnswer(raw string, req *LookupRequest, homeKeys map[string]*Key, encKey *ecdsa.PrivateKey, now time.Time) (LookupResult, error) {
	jws, err := parseCompact(raw, TypLookupAnswer, MaxLookupLen)
	if err != nil {
		return LookupResult{}, err
	}
	var a LookupAnswer
	if err := decodeStrict(jws.payload, &a); err != nil {
		return LookupResult{}, err
	}
	if a.Nonce != req.Nonce {
		return LookupResult{}, fail(ReasonReplayed, "answer to another request")
	}
	if _, err := jws.verifyByProvince(req.To, homeKeys); err != nil {
		return LookupResult{}, err
	}
	switch {
	case a.Issuer != req.To:
		return LookupResult{}, fail(ReasonWrongSigner, "answer made in the name of "+a.Issuer)
	case a.To != req.Issuer:
		return LookupResult{}, fail(ReasonNotRecipient, "answer addressed to "+a.To)
	case a.Refused != "" && (a.Found || a.Data != "" || !isReasonToken(a.Refused)):
		return LookupResult{}, fail(ReasonMalformed, "refusal with data")
	case a.Found != (a.Data != ""):
		return LookupResult{}, fail(ReasonMalformed, "found and data disagree")
	}
	if err := fresh(a.IssuedAt, now); err != nil {
		return LookupResult{}, err
	}
	if a.Refused != "" {
		return LookupResult{Refused: a.Refused}, nil
	}
	if !a.Found {
		return LookupResult{}, nil
	}
	plain, err := openSealed(a.Data, contactCty, encKey, MaxLookupLen)
	if err != nil {
		return LookupResult{}, err
	}
	var c Contact
	if err := decodeStrict([]byte(plain), &c); err != nil {
		return LookupResult{}, err
	}
	if err := c.validate(); err != nil {
		return LookupResult{}, err
	}
	return LookupResult{Found: true, Contact: c}, nil
}

// isReasonToken reports whether r looks like a Reason: 1 to 32 of [a-z_].
func isReasonToken(r Reason) bool {
	if len(r) == 0 || len(r) > 32 {
		return false
	}
	return strings.Trim(string(r), "abcdefghijklmnopqrstuvwxyz_") == ""
}
