package trust

import (
	"crypto/ecdsa"
	"fmt"
	"strings"
	"time"
)

// Verification receipts tell a resident's home node on which day and at
// what kind of place their code was verified in other provinces, so the
// resident can know it (the right to know, seed suggestion 3 of "How to
// strengthen supervision"). The verifying node batches them per home
// province: each entry names the code, the kind of place and the day —
// never the time of day, the scanner, its exact location or anything the
// scanner was shown. The home province learns in which province its
// resident's code was scanned, and on which day; it is the resident's own
// health authority and already holds far more, and the receipt is sealed
// to it so that no other member learns it. Residents are told of it in
// the privacy notice they consent to, and a province can turn receipts
// off.

// Receipt limits.
const (
	// MaxReceiptEntries bounds the entries of one receipt: a receipt of
	// as many entries, each of the longest place and with its proof of
	// scan, stays within MaxReceiptLen.
	MaxReceiptEntries = 400
	// MaxReceiptLen bounds a sealed receipt (at most about 270 bytes an
	// entry, base64url twice).
	MaxReceiptLen = 128 << 10
	// MaxReceiptAgeDays is how many days before its receipt's own day an
	// entry's verification may have happened: receipts are sent in
	// batches, and a batch sent just after midnight holds the day before.
	MaxReceiptAgeDays = 1
	// maxPlaceLen bounds a kind of place.
	maxPlaceLen = 32
)

// Receipt is a verifying province's signed batch of verifications of
// codes issued by province To.
type Receipt struct {
	Issuer   string         `json:"iss"`
	To       string         `json:"to"`
	IssuedAt int64          `json:"iat"`
	Nonce    string         `json:"nonce"`
	Entries  []ReceiptEntry `json:"entries"`
}

// ReceiptEntry is one verification: which code, at what kind of place
// (checkpoint, station, workplace...), on which day (ReceiptDay). There is
// deliberately no time of day: the format cannot carry it.
//
// Proof is the code's proof of scan (ScanProof). Code ids are no secret
// (every member reads the ids of revoked codes in revocation statements),
// so the home node records an entry only when its proof is the code's
// (CheckScanProof): a member cannot write into a resident's history that
// their code was verified where it never was.
type ReceiptEntry struct {
	JTI   string `json:"jti"`
	Place string `json:"place,omitempty"`
	Day   string `json:"day"`
	Proof string `json:"proof,omitempty"`
}

// ReceiptZone is the time zone receipt days are counted in: China
// Standard Time, which every province keeps.
var ReceiptZone = time.FixedZone("UTC+8", 8*3600)

// receiptDayLayout is how a receipt day is written: 2026-11-30.
const receiptDayLayout = "2006-01-02"

// ReceiptDay is the day of t as a receipt carries it.
func ReceiptDay(t time.Time) string { return t.In(ReceiptZone).Format(receiptDayLayout) }

// ParseReceiptDay returns the start of a receipt day, in ReceiptZone.
func ParseReceiptDay(day string) (time.Time, error) {
	t, err := time.ParseInLocation(receiptDayLayout, day, ReceiptZone)
	if err != nil || t.Format(receiptDayLayout) != day {
		return time.Time{}, fail(ReasonMalformed, "day must be YYYY-MM-DD")
	}
	return t, nil
}

// Validate checks a receipt's fields.
func (r Receipt) Validate() error {
	switch {
	case !isProvinceID(r.Issuer) || !isProvinceID(r.To) || r.Issuer == r.To:
		return fail(ReasonMalformed, "iss and to must be two province ids")
	case !isJTI(r.Nonce) || r.IssuedAt <= 0:
		return fail(ReasonMalformed, "nonce or iat missing")
	case len(r.Entries) == 0 || len(r.Entries) > MaxReceiptEntries:
		return fail(ReasonMalformed, fmt.Sprintf("%d entries, want 1..%d", len(r.Entries), MaxReceiptEntries))
	}
	today, _ := ParseReceiptDay(ReceiptDay(time.Unix(r.IssuedAt, 0).Add(ClockSkew)))
	for _, e := range r.Entries {
		if !isJTI(e.JTI) || !isPlace(e.Place) || (e.Proof != "" && !ValidScanProof(e.Proof)) {
			return fail(ReasonMalformed, "entry with a bad jti, place or proof of scan")
		}
		day, err := ParseReceiptDay(e.Day)
		if err != nil {
			return err
		}
		if day.After(today) || day.Before(today.AddDate(0, 0, -MaxReceiptAgeDays)) {
			return fail(ReasonMalformed, "entry day outside the receipt's window")
		}
	}
	return nil
}

// isPlace reports whether s is a kind of place: up to 32 of [a-z0-9_-].
func isPlace(s string) bool {
	return len(s) <= maxPlaceLen && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

// ValidPlace reports whether s may be sent as a kind of place.
func ValidPlace(s string) bool { return isPlace(s) }

// SealReceipt validates r, signs it as the verifying province and seals
// it to the home node's enc key.
func SealReceipt(s *StatementSigner, r Receipt, homeEnc *ecdsa.PublicKey) (string, error) {
	return sealStatement(s, TypReceipt, r, "", homeEnc)
}

// OpenReceipt decrypts a sealed receipt with self's encKey and verifies
// it: typ, signed by one of verifier's keys, in verifier's name, addressed
// to self, fields valid, issued within LookupWindow of now. Replays within
// the window are the caller's to refuse (ReplayCache).
func OpenReceipt(raw, verifier string, verifierKeys map[string]*Key, self string, encKey *ecdsa.PrivateKey, now time.Time) (*Receipt, error) {
	return openAddressed[Receipt](raw, TypReceipt, "receipt", verifier, verifierKeys, self, encKey, now)
}

// addressed is a statement one province seals to another (a receipt, an
// erasure): its envelope fields, and its own check of the rest.
type addressed interface {
	envelope() (iss, to string, iat int64)
	Validate() error
}

func (r Receipt) envelope() (string, string, int64) { return r.Issuer, r.To, r.IssuedAt }

// openAddressed decrypts a sealed statement of typ (what, in refusals)
// with self's encKey and verifies it: signed by one of sender's keys, in
// sender's name, addressed to self, fields valid, issued within
// LookupWindow of now.
func openAddressed[T any, P interface {
	*T
	addressed
}](raw, typ, what, sender string, senderKeys map[string]*Key, self string, encKey *ecdsa.PrivateKey, now time.Time) (*T, error) {
	inner, err := openSealed(raw, sealedCty, encKey, MaxReceiptLen)
	if err != nil {
		return nil, err
	}
	var v T
	if err := parseSignedByProvinceN(inner, typ, sender, senderKeys, &v, MaxReceiptLen); err != nil {
		return nil, err
	}
	iss, to, iat := P(&v).envelope()
	switch {
	case iss != sender:
		return nil, fail(ReasonWrongSigner, what+" made in the name of "+iss)
	case to != self:
		return nil, fail(ReasonNotRecipient, what+" addressed to "+to)
	}
	if err := P(&v).Validate(); err != nil {
		return nil, err
	}
	if err := fresh(iat, now); err != nil {
		return nil, err
	}
	return &v, nil
}
