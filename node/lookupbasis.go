package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// The legal basis of a lookup is free text an officer types. It should
// cite a law, but nothing stops it from naming the person or the case
// ("contact tracing for Zhang San's household"), and the audit log, a
// hash chain nothing may rewrite, keeps what it is given for
// privacy.retention.audit (365 days) at both ends. So neither end's log
// keeps it in clear. Each lookup entry that used to hold legal_basis
// holds instead:
//
//   - basis: a keyed tag of the text (HMAC-SHA256 under the case tag key,
//     lookupcase.go, with its own label), for the life of the entry. A
//     dispute over which text was stated is settled by the tag of the
//     text put forward (LookupAudit with a legal basis).
//   - basis_sealed: the text sealed under the key of the day it was
//     stated (a random key, sealed by the KEK in node.db's meta under
//     lookup.basis_key.<YYYY-MM-DD>), which basis_key names. The
//     retention pass shreds a day's key once privacy.retention.lookups
//     has passed since the day ended, and with it every legal basis
//     sealed that day: the ciphertext stays in the chain, which still
//     verifies, but nobody can read it any more.
//
// At the home node, when the code's holder was found, the text is sealed
// under the holder's data key first, so that their deletion shreds it as
// it shreds the case. The resident (LookupsOf) and the auditor
// (LookupAudit) read the text while its day's key is kept.

// Legal basis sealing labels.
const (
	// basisTagLabel separates the legal basis tags' HMAC inputs from the
	// case tags', under the same key.
	basisTagLabel = "hcfed/audit/legal_basis/v1\x00"
	// basisKeyMeta prefixes the meta rows of the days' keys; the day
	// (basisKeyDay) follows.
	basisKeyMeta = "lookup.basis_key."
	// basisKeyAAD binds a sealed day's key to its day.
	basisKeyAAD = "key:lookup-basis:"
	// basisKeyDay is how a day's key is named: its UTC date.
	basisKeyDay = time.DateOnly
)

// sealedBasis is what an audit entry of a lookup keeps of its legal basis
// (see above). Entries written before keep the text in clear instead, in
// Clear, until the audit retention prunes them.
type sealedBasis struct {
	Tag    string `json:"basis,omitempty"`
	Key    string `json:"basis_key,omitempty"`    // the day whose key sealed it
	Sealed []byte `json:"basis_sealed,omitempty"` // base64
	Clear  string `json:"legal_basis,omitempty"`  // only in entries written before
}

// into adds b's fields to an audit detail.
func (b sealedBasis) into(detail map[string]any) map[string]any {
	detail["basis"] = b.Tag
	if len(b.Sealed) > 0 {
		detail["basis_key"], detail["basis_sealed"] = b.Key, b.Sealed
	}
	return detail
}

// basisTag is the tag under which the audit log keeps a legal basis.
func basisTag(key []byte, text string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(basisTagLabel))
	m.Write([]byte(text))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:caseTagLen])
}

// basisAAD binds a sealed legal basis to its day's key and its tag.
func basisAAD(b sealedBasis) []byte { return []byte("lookup_basis:" + b.Key + ":" + b.Tag) }

// basisSubjectAAD binds a legal basis sealed under a resident's data key
// to them.
func basisSubjectAAD(subjectID string) []byte { return fieldAAD(subjectID, "lookup_basis") }

// sealBasis seals a legal basis stated now for the audit log; with dk, for
// the resident subjectID, under their data key first.
func (l *lookups) sealBasis(ctx context.Context, text string, now time.Time, dk *seal.Key, subjectID string) (sealedBasis, error) {
	tag, day := basisTag(l.caseKey, text), now.UTC().Format(basisKeyDay)
	raw, err := openSecret(ctx, l.db, l.kek, basisKeyMeta+day, basisKeyAAD+day, "the legal basis key of "+day)
	if err != nil {
		return sealedBasis{Tag: tag}, err
	}
	k, err := seal.NewKey(raw)
	if err != nil {
		return sealedBasis{Tag: tag}, err
	}
	plain := []byte(text)
	if dk != nil {
		plain = dk.Seal(basisSubjectAAD(subjectID), plain)
	}
	b := sealedBasis{Tag: tag, Key: day}
	b.Sealed = k.Seal(basisAAD(b), plain)
	return b, nil
}

// openBasis reads a legal basis as an audit entry keeps it: "" once its
// day's key was shredded. dk is the resident's data key when it was sealed
// for them (nil otherwise).
func (l *lookups) openBasis(ctx context.Context, b sealedBasis, dk *seal.Key, subjectID string) (string, error) {
	if b.Clear != "" || len(b.Sealed) == 0 {
		return b.Clear, nil
	}
	v, err := l.db.GetMeta(ctx, basisKeyMeta+b.Key)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil // past the lookup retention: shredded
	}
	if err != nil {
		return "", err
	}
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", errors.New("the legal basis key of " + b.Key + " in the database is malformed")
	}
	raw, err := l.kek.Open([]byte(basisKeyAAD+b.Key), sealed)
	if err != nil {
		return "", wrongKEK("the legal basis key of "+b.Key, err)
	}
	k, err := seal.NewKey(raw)
	if err != nil {
		return "", err
	}
	plain, err := k.Open(basisAAD(b), b.Sealed)
	if err == nil && dk != nil {
		plain, err = dk.Open(basisSubjectAAD(subjectID), plain)
	}
	return string(plain), err
}

// shredBases shreds the keys of the days whose legal bases are past the
// lookup retention at now (the day ended at least retention ago), and
// returns how many days went.
func (l *lookups) shredBases(ctx context.Context, now time.Time) (int, error) {
	keys, err := l.db.MetaKeysWithPrefix(ctx, basisKeyMeta)
	if err != nil {
		return 0, err
	}
	var old []string
	for _, k := range keys {
		day, err := time.Parse(basisKeyDay, strings.TrimPrefix(k, basisKeyMeta))
		if err != nil || !day.AddDate(0, 0, 1).Add(l.retention).After(now) {
			old = append(old, k) // a key without a readable day could never be shredded otherwise
		}
	}
	return l.db.ShredMeta(ctx, old)
}

// auditedBasis reads the legal basis of a lookup's audit entry e for an
// auditor: in clear while the lookup retention keeps it (opened with the
// resident's data key at the home node when they were found; "" once they
// deleted their record), and whether it was the text given, when one is
// (by its tag, for as long as the entry is kept).
func (l *lookups) auditedBasis(ctx context.Context, e store.AuditEntry, given string) (string, *bool, error) {
	var d answerDetail
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil || (d.Tag == "" && d.Clear == "") {
		return "", nil, nil // a lookup.result, or a refusal before the basis was read: none stated
	}
	var matches *bool
	if given != "" {
		m := d.Clear == given || (d.Tag != "" && hmac.Equal([]byte(d.Tag), []byte(basisTag(l.caseKey, given))))
		matches = &m
	}
	var dk *seal.Key
	if e.Action == actionLookupAnswer && d.Found && d.Clear == "" {
		_, k, err := loadSubjectWithKey(ctx, l.db, l.kek, e.Target)
		if ErrorCodeOf(err) == ENotFound {
			return "", matches, nil // deleted: their data key, and the text with it, is shredded
		}
		if err != nil {
			return "", nil, err
		}
		dk = k
	}
	text, err := l.openBasis(ctx, d.sealedBasis, dk, e.Target)
	return text, matches, err
}
