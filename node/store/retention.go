package store

import (
	"context"
	"time"
)

// DeleteExpiredCodes deletes the bookkeeping of codes that expired at or
// before before, revoked or not: once a code has expired no peer needs its
// revocation any more. It returns how many rows went.
func (db *DB) DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM codes WHERE expires <= ?`, nanos(before))
	if err != nil {
		return 0, wrap("delete expired codes", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete expired codes", err)
}

// DeletePublishedRevocations deletes outbox rows that JetStream
// acknowledged and that were created before before (pass a time after
// which every code they list has expired). The newest row is always kept,
// so LastRevocationSeq, and the next seq, never go back.
func (db *DB) DeletePublishedRevocations(ctx context.Context, before time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM revocations
		WHERE published = 1 AND created < ? AND seq < (SELECT MAX(seq) FROM revocations)`, nanos(before))
	if err != nil {
		return 0, wrap("delete published revocations", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete published revocations", err)
}

// SubjectsPastRetention lists up to limit ids of subjects whose retention
// ended at or before now and whose status is green, for the caller to
// delete each one (which revokes, unlinks and crypto-shreds as usual). A
// yellow or red subject is held past its retention, as from its own
// deletion: its record is what refuses a second enrolment of its ID
// number, and a resident who stayed away until it lapsed would otherwise
// be enrolled again green. So is a green subject marked
// StatusUnconfirmed, whose real status may be another. It is deleted at
// the first pass after its status is (set) green again.
func (db *DB) SubjectsPastRetention(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, invalid("subjects past retention", "limit must be positive")
	}
	return queryAll(ctx, db.r, "subjects past retention", func(r rowScanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT id FROM subjects WHERE retain_until <= ? AND status = 'green' AND status_unconfirmed = 0 ORDER BY retain_until, id LIMIT ?`, nanos(now), limit)
}
