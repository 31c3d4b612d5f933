package trust

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// An erasure tells a province that obtained a resident's contact data in
// a lookup that the resident's home province no longer holds them: they
// deleted their record, or its retention ended (seed rule 8). The home
// node sends one to each province it answered about the resident, naming
// the codes looked up as the lookups' pseudonymous code references; the
// recipient deletes the contact data it kept for them from that home
// province, and only from it. It is sealed to the recipient, as receipts
// are, and travels on the same subject (a province's messages to another
// that need no answer): the sealed envelope's header says which of the
// two it holds, so that a node with receipts off still discards receipts
// unopened, and the inner statement's typ is checked as always.
//
// The recipient acknowledges an erasure it applied (ErasureAck), so that
// the home can stop sending it: one that did not reach its recipient is
// sent again until it does or the recipient's copy has expired anyway.

// Erasure limits.
const (
	// MaxErasureCodes bounds the code references of one erasure.
	MaxErasureCodes = 500
	// maxCodeRefLen bounds one code reference (base64url).
	maxCodeRefLen = 64
	// sealedErasureTyp marks a sealed erasure's envelope.
	sealedErasureTyp = "hcfed-erasure+jwe"
)

// Erasure is a home province's signed notice to province To.
type Erasure struct {
	Issuer   string   `json:"iss"`
	To       string   `json:"to"`
	IssuedAt int64    `json:"iat"`
	Nonce    string   `json:"nonce"`
	Codes    []string `json:"codes"` // the codes looked up, as the lookups reference them
}

// Validate checks an erasure's fields.
func (e Erasure) Validate() error {
	switch {
	case !isProvinceID(e.Issuer) || !isProvinceID(e.To) || e.Issuer == e.To:
		return fail(ReasonMalformed, "iss and to must be two province ids")
	case !isJTI(e.Nonce) || e.IssuedAt <= 0:
		return fail(ReasonMalformed, "nonce or iat missing")
	case len(e.Codes) == 0 || len(e.Codes) > MaxErasureCodes:
		return fail(ReasonMalformed, fmt.Sprintf("%d codes, want 1..%d", len(e.Codes), MaxErasureCodes))
	}
	for _, c := range e.Codes {
		if c == "" || len(c) > maxCodeRefLen || strings.Trim(c, base64URLChars) != "" {
			return fail(ReasonMalformed, "a code reference that is not base64url")
		}
	}
	return nil
}

// base64URLChars are the characters of unpadded base64url.
const base64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// SealErasure validates e, signs it as the home province and seals it to
// the recipient's enc key.
func SealErasure(s *StatementSigner, e Erasure, toEnc *ecdsa.PublicKey) (string, error) {
	return sealStatement(s, TypErasure, e, sealedErasureTyp, toEnc)
}

// IsSealedErasure reports whether raw's envelope says it holds an
// erasure, reading its header only (no decryption): a routing hint that
// lets a receipt stay unopened. What it says is checked by OpenErasure.
func IsSealedErasure(raw string) bool {
	head, _, ok := strings.Cut(raw, ".")
	if !ok || len(head) > maxSealedHeaderLen {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Typ string `json:"typ"`
	}
	return json.Unmarshal(b, &h) == nil && h.Typ == sealedErasureTyp
}

// maxSealedHeaderLen bounds the envelope header IsSealedErasure decodes.
const maxSealedHeaderLen = 1024

// OpenErasure decrypts a sealed erasure with self's encKey and verifies
// it: typ, signed by one of home's keys, in home's name, addressed to
// self, fields valid, issued within LookupWindow of now. Replays are
// harmless (a second erasure deletes nothing more) but the caller's
// ReplayCache refuses them as for receipts.
func OpenErasure(raw, home string, homeKeys map[string]*Key, self string, encKey *ecdsa.PrivateKey, now time.Time) (*Erasure, error) {
	return openAddressed[Erasure](raw, TypErasure, "erasure", home, homeKeys, self, encKey, now)
}

func (e Erasure) envelope() (string, string, int64) { return e.Issuer, e.To, e.IssuedAt }

// erasureAckLabel separates an erasure acknowledgement's hash from any
// other hash of the same fields.
const erasureAckLabel = "hcfed-erasure-ack"

// ErasureAck is the reply by which e's recipient says it applied e: a
// hash of e's nonce, both provinces and a label. The nonce travels only
// inside the sealed erasure, so only the recipient, which alone can open
// it, can make the acknowledgement. The transport authenticates no reply
// (any member may publish to another's reply inbox), and a forged
// acknowledgement would let a member stop an erasure from ever reaching
// its recipient. A nonce is used for one attempt only, so an
// acknowledgement seen on the wire acknowledges nothing else.
func ErasureAck(e Erasure) []byte {
	h := sha256.Sum256([]byte(erasureAckLabel + "\x00" + e.Issuer + "\x00" + e.To + "\x00" + e.Nonce))
	return []byte(base64.RawURLEncoding.EncodeToString(h[:]))
}

// CheckErasureAck reports whether reply is the acknowledgement of e.
func CheckErasureAck(e Erasure, reply []byte) error {
	if subtle.ConstantTimeCompare(ErasureAck(e), reply) != 1 {
		return fail(ReasonBadSignature, "not the acknowledgement of this erasure")
	}
	return nil
}
