package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// One ID number is one subject. The node keeps, per subject, a keyed blind
// index of the normalised ID number — HMAC-SHA256 under a random key
// sealed by the KEK — unique in the store, so a second enrolment of the
// same number is refused (Enrol) while the number itself is never stored
// in clear or under a key that deletion does not shred. Key and values
// live in keys.db, next to the data keys (store/subjectindex.go).

// Blind index limits and labels.
const (
	// subjectIndexAAD binds the sealed index key to its place.
	subjectIndexAAD = "key:subject-index"
	// subjectIndexLabel separates this HMAC's inputs from any other use of
	// the key.
	subjectIndexLabel = "hcfed/subject-index/id_number/v1\x00"
	// backfillPage is how many subjects one backfill query reads.
	backfillPage = 500
)

// NormaliseIDNumber is the form of an ID number that is stored and indexed:
// the check character X in upper case. Validation (ValidIDNumber) runs on
// this form, so "…002x" and "…002X" are one number.
func NormaliseIDNumber(s string) string { return strings.ToUpper(s) }

// idIndex is the blind index value of a normalised ID number.
func idIndex(key []byte, idNumber string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(subjectIndexLabel))
	m.Write([]byte(idNumber))
	return m.Sum(nil)
}

// openSubjectIndex opens the blind index key, creating it on first start,
// and gives every subject enrolled before the index existed its value.
// node.New calls it where it did when the key was Node's, before the
// trust state and the services are built, and hands the key to residents
// (residents.go), which owns it.
func openSubjectIndex(ctx context.Context, db *store.DB, kek *seal.Key, log *slog.Logger) ([]byte, error) {
	sealed, complete, err := db.SubjectIndexKey(ctx, kek.Seal([]byte(subjectIndexAAD), seal.NewKeyMaterial()))
	if err != nil {
		return nil, err
	}
	key, err := kek.Open([]byte(subjectIndexAAD), sealed)
	if err != nil {
		return nil, wrongKEK("the subject index key", err)
	}
	if complete {
		return key, nil
	}
	if err := backfillSubjectIndex(ctx, db, kek, key, log); err != nil {
		return nil, err
	}
	return key, nil
}

// backfillSubjectIndex computes the index value of each subject that has
// none, decrypting its ID number with its data key. A subject whose number
// another subject already holds is the defect the index exists to stop:
// it is left without a value, named in the log for an operator to resolve
// (delete one), and the backfill runs again at the next start until none
// is left.
func backfillSubjectIndex(ctx context.Context, db *store.DB, kek *seal.Key, key []byte, log *slog.Logger) error {
	after, indexed, dups := "", 0, 0
	for {
		subs, last, err := db.UnindexedSubjects(ctx, after, backfillPage)
		if err != nil {
			return err
		}
		if last == "" {
			break
		}
		after = last
		for _, s := range subs {
			dk, err := openDataKey(kek, s)
			if err != nil {
				return fmt.Errorf("subject index: data key of %s: %w", s.ID, err)
			}
			num, err := dk.Open(fieldAAD(s.ID, "id_number"), s.IDNumberCT)
			if err != nil {
				return fmt.Errorf("subject index: id number of %s: %w", s.ID, err)
			}
			err = db.SetSubjectIndex(ctx, s.ID, idIndex(key, NormaliseIDNumber(string(num))))
			var dup *store.DuplicateError
			switch {
			case errors.As(err, &dup):
				dups++
				log.Warn("two subjects hold one ID number: delete one of them", "subject", s.ID, "other", dup.SubjectID)
			case errors.Is(err, store.ErrNotFound):
				// deleted meanwhile
			case err != nil:
				return err
			default:
				indexed++
			}
		}
	}
	if indexed > 0 || dups > 0 {
		log.Info("subject index backfilled", "indexed", indexed, "duplicates", dups)
	}
	if dups > 0 {
		return nil
	}
	return db.MarkSubjectIndexComplete(ctx)
}
