package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// liveCountSQL is the SQL expression that counts the live codes (unexpired
// at cut, unrevoked) of subject, both SQL expressions, leaving out the
// codes of a compromised key. Those are refused by every verifier
// (trust.ReasonKeyCompromised) and their QR images by this node, but
// nothing revokes them (marking them revoked would put every code the key
// signed into the revocation snapshots); counted, they kept a resident who
// held codes.max_live of them from getting a code of the new key until
// they expired. The count is a range of codes_of_subject read without the
// rows; the codes of a compromised key, whose kid is in the rows, are
// counted and taken away only while the keys table holds such a key.
func liveCountSQL(subject, cut string) string {
	live := `FROM codes WHERE subject_id = ` + subject + ` AND revoked = 0 AND expires > ` + cut
	return `((SELECT count(*) ` + live + `) - CASE WHEN EXISTS (` + compromisedKIDsSQL + `)
		THEN (SELECT count(*) ` + live + ` AND kid IN (` + compromisedKIDsSQL + `)) ELSE 0 END)`
}

// compromisedKIDsSQL selects the ids of the node's signing keys marked
// compromised: every verifier refuses their codes, which nothing revokes.
const compromisedKIDsSQL = `SELECT kid FROM main.keys WHERE kind = 'sign' AND state = '` + string(trust.KeyCompromised) + `'`

// insertCodeSQL writes the row only while the subject's status is still
// the one the code encodes, so a code signed just before a status change
// and recorded just after it can never escape that change's revocation;
// and only while the subject holds fewer than MaxLive live codes (when
// MaxLive is positive), so that no resident can make one status change
// revoke more codes than a revocation statement carries. Codes of a
// compromised key do not count (liveCountSQL); a status change
// still revokes them, so it may revoke up to MaxLive more per compromised
// key still within its codes' lifetime, in further statements if need be.
// Its arguments are numbered as insertCode passes them (13: subject, 14:
// issuance time, 15: MaxLive, 16: the token's hash).
var insertCodeSQL = `INSERT INTO codes (jti, subject_id, kid, issued_at, expires, paper, revoked, text_ct, scan_digest)
	SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM subjects WHERE id = ? AND status = ? AND status_unconfirmed = 0)
	AND (? <= 0 OR ` + liveCountSQL("?13", "?14") + ` < ?15)
	AND (?16 IS NULL OR EXISTS (SELECT 1 FROM tokens WHERE hash = ?16))`

// InsertCode records an issued code. Calls from many goroutines are
// grouped into one transaction (group commit); it returns once the row is
// durable.
//
// If ctx ends first, InsertCode returns ctx.Err() only when the row was
// never written; once the row is in a transaction it waits for the commit
// and reports its outcome. It returns ErrConflict for a jti already
// recorded, ErrNotFound when the subject does not exist (so a code issued
// while its subject was being deleted is never recorded, and must not be
// handed out), ErrStatusChanged when the subject's status is no longer
// c.Status (issue again with the new status), ErrStatusUnconfirmed when
// the subject is marked StatusUnconfirmed, ErrTooManyCodes when the
// subject already holds c.MaxLive live codes, ErrInvalid for a missing
// jti, subject, kid, status or time, ErrTokenGone when c.Token names a
// token that no longer exists, and ErrClosed after Close.
func (db *DB) InsertCode(ctx context.Context, c Code) error {
	return db.insertCode(ctx, c, nil)
}

// insertCode is InsertCode; a reserved insert (res not nil) ends its
// reservation once the code is queued for the writer or refused before
// it, and is paced as issuance (maxLinger).
func (db *DB) insertCode(ctx context.Context, c Code, res *Reservation) error {
	const op = "insert code"
	var queued func()
	if res != nil {
		queued = res.Release
	}
	if c.JTI == "" || c.SubjectID == "" || c.KID == "" || c.Status == "" || c.IssuedAt.IsZero() || c.Expires.IsZero() {
		if queued != nil {
			queued()
		}
		return invalid(op, "missing jti, subject, kid, status or time")
	}
	var token any // NULL: no token to check
	if len(c.Token) > 0 {
		token = c.Token
	}
	args := []any{c.JTI, c.SubjectID, c.KID, nanos(c.IssuedAt), nanos(c.Expires), boolInt(c.Paper), boolInt(c.Revoked), c.TextCT,
		c.ScanDigest, c.SubjectID, c.Status, c.MaxLive, c.SubjectID, nanos(c.IssuedAt), c.MaxLive, token}
	r := &request{reserved: res != nil, done: make(chan error, 1), op: func(bt *batchTx) error {
		res, err := bt.exec(insertCodeSQL, args...)
		if err != nil {
			return wrap(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap(op, err)
		} else if n == 0 {
			return whyNotInserted(bt.tx, c)
		}
		if !c.RetainUntil.IsZero() {
			if _, err := bt.exec(`UPDATE subjects SET retain_until = ?1 WHERE id = ?2 AND retain_until < ?1`,
				nanos(c.RetainUntil), c.SubjectID); err != nil {
				return wrap(op, err)
			}
		}
		return nil
	}}
	err := db.batch.doRequest(ctx, r, queued)
	// Issuance's cached read of the subject is out of date when the code
	// moved its retention date, or was refused for what that read said.
	if (err == nil && !c.RetainUntil.IsZero()) ||
		errors.Is(err, ErrStatusChanged) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooManyCodes) ||
		errors.Is(err, ErrStatusUnconfirmed) {
		db.issue.forget(c.SubjectID)
	}
	return err
}

// whyNotInserted tells why insertCodeSQL wrote nothing for c.
func whyNotInserted(tx *sql.Tx, c Code) error {
	const op = "insert code"
	var status string
	var unconfirmed bool
	err := tx.QueryRow(`SELECT status, status_unconfirmed FROM subjects WHERE id = ?`, c.SubjectID).Scan(&status, &unconfirmed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: subject: %w", op, ErrNotFound)
	case err != nil:
		return wrap(op, err)
	case unconfirmed:
		return fmt.Errorf("%s: %w", op, ErrStatusUnconfirmed)
	case status != c.Status:
		return fmt.Errorf("%s: %w", op, ErrStatusChanged)
	}
	if len(c.Token) > 0 {
		var one int
		switch err := tx.QueryRow(`SELECT 1 FROM tokens WHERE hash = ?`, c.Token).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%s: %w", op, ErrTokenGone)
		case err != nil:
			return wrap(op, err)
		}
	}
	return fmt.Errorf("%s: %w (%d)", op, ErrTooManyCodes, c.MaxLive)
}

// Code reads one code's bookkeeping; ErrNotFound for an unknown jti.
// SubjectID and TextCT are empty once the subject was deleted; ScanDigest
// stays until the row goes.
func (db *DB) Code(ctx context.Context, jti string) (Code, error) {
	var c Code
	var subject *string
	var issued, expires int64
	err := db.readRow(ctx, `SELECT jti, subject_id, kid, issued_at, expires, paper, revoked, text_ct, scan_digest
		FROM codes WHERE jti = ?`, jti).
		Scan(&c.JTI, &subject, &c.KID, &issued, &expires, &c.Paper, &c.Revoked, &c.TextCT, &c.ScanDigest)
	if err != nil {
		return Code{}, wrap("code", err)
	}
	if subject != nil {
		c.SubjectID = *subject
	}
	c.IssuedAt, c.Expires = fromNanos(issued), fromNanos(expires)
	return c, nil
}

// acceptedCut is the expiry, in the codes table's nanoseconds, of the
// oldest code a verifier still accepts at now: trust.Verify accepts a code
// until trust.ClockSkew past its expiry, so revoking a subject's codes,
// and the revocations a node holds and publishes, must reach that far
// back, or a code revoked in that window would keep verifying.
func acceptedCut(now time.Time) int64 { return nanos(now.Add(-trust.ClockSkew)) }

// LiveRevocations lists every revoked code that a verifier may still
// accept at now (see acceptedCut), for revocation snapshots, soonest
// expiry first. It includes the codes of deleted subjects.
func (db *DB) LiveRevocations(ctx context.Context, now time.Time) ([]RevocationEntry, error) {
	return queryAll(ctx, db.r, "live revocations", scanRevocationEntry, liveRevocationsSQL, acceptedCut(now))
}

// liveRevocationsSQL reads LiveRevocations' and EachLiveRevocation's
// codes (accepted cut). The order is total — expiry, then jti — so that
// two snapshots of the same revocations list them alike.
const liveRevocationsSQL = `SELECT jti, expires FROM codes WHERE revoked = 1 AND expires > ? ORDER BY expires, jti`

// CountLiveRevocations counts the revoked codes LiveRevocations lists at
// now: a snapshot publisher sizes its buffer with it.
func (db *DB) CountLiveRevocations(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM codes WHERE revoked = 1 AND expires > ?`, acceptedCut(now)).Scan(&n)
	return n, wrap("count live revocations", err)
}

// EachLiveRevocation calls fn with each revoked code LiveRevocations
// lists at now, in its order, but one row at a time: a snapshot of millions of revocations is encoded as
// it is read, never held as a list. It stops at fn's first error and
// returns it.
func (db *DB) EachLiveRevocation(ctx context.Context, now time.Time, fn func(RevocationEntry) error) error {
	rows, err := db.r.QueryContext(ctx, liveRevocationsSQL, acceptedCut(now))
	if err != nil {
		return wrap("live revocations", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanRevocationEntry(rows)
		if err != nil {
			return wrap("live revocations", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return wrap("live revocations", rows.Err())
}

const codesOfSQL = `SELECT jti FROM codes WHERE subject_id = ? ORDER BY issued_at DESC, jti LIMIT ?`

var liveCodesSQL = `SELECT ` + liveCountSQL("?1", "?2")

// CodesOf lists the jtis of a subject's recorded codes, newest first, up to
// limit: the codes whose verifications the resident may ask about. Rows of
// codes past their retention are gone, and so are their entries here.
func (db *DB) CodesOf(ctx context.Context, subjectID string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, invalid("codes of", "limit must be positive")
	}
	return queryAll(ctx, db.r, "codes of", scanJTI, codesOfSQL, subjectID, limit)
}

// LiveCodes counts a subject's live codes at now: unexpired, not revoked,
// and not of a compromised key. InsertCode enforces Code.MaxLive itself; this lets a caller
// refuse cheaply before signing a code that would be refused anyway.
func (db *DB) LiveCodes(ctx context.Context, subjectID string, now time.Time) (int, error) {
	var n int
	err := db.readRow(ctx, liveCodesSQL, subjectID, nanos(now)).Scan(&n)
	return n, wrap("live codes", err)
}

// livePhoneCodesSQL lists a subject's live phone codes (LivePhoneCodes).
const livePhoneCodesSQL = `SELECT jti FROM codes WHERE subject_id = ?1 AND revoked = 0 AND paper = 0 AND expires > ?2
	AND kid NOT IN (` + compromisedKIDsSQL + `) ORDER BY expires DESC, jti LIMIT ?3`

// LivePhoneCodes lists the jtis of a subject's phone codes that are live
// at now — unexpired, not revoked, and not of a compromised key — newest
// expiry first, up to limit: a wallet showing a code that is not among
// them shows a code no verifier accepts any more, whatever withdrew it.
// Paper codes are left out: a wallet never shows one, and a printed code
// stays the business of the service point that printed it.
func (db *DB) LivePhoneCodes(ctx context.Context, subjectID string, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, invalid("live phone codes", "limit must be positive")
	}
	return queryAll(ctx, db.r, "live phone codes", scanJTI, livePhoneCodesSQL, subjectID, nanos(now), limit)
}

// keyCompromisedPhoneCodesSQL lists a subject's unexpired phone codes of
// a compromised key (KeyCompromisedPhoneCodes).
const keyCompromisedPhoneCodesSQL = `SELECT jti FROM codes WHERE subject_id = ?1 AND paper = 0 AND expires > ?2
	AND kid IN (` + compromisedKIDsSQL + `) ORDER BY expires DESC, jti LIMIT ?3`

// KeyCompromisedPhoneCodes lists the jtis of a subject's unexpired phone
// codes signed by a key since marked compromised, revoked or not, newest
// expiry first, up to limit: a wallet showing one of them tells its
// resident the province withdrew the key, not that their code was revoked.
func (db *DB) KeyCompromisedPhoneCodes(ctx context.Context, subjectID string, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, invalid("key compromised phone codes", "limit must be positive")
	}
	return queryAll(ctx, db.r, "key compromised phone codes", scanJTI, keyCompromisedPhoneCodesSQL, subjectID, nanos(now), limit)
}

// scanJTI reads a row holding one code id.
func scanJTI(r rowScanner) (string, error) {
	var jti string
	return jti, r.Scan(&jti)
}

// RevokePaperCodes revokes the subject's paper codes that a verifier may
// still accept at now (see acceptedCut), and no other code: a resident
// who lost a printed code keeps the codes on their phone, if they have
// one. The revocation is appended to the outbox and the audit entries in
// the same transaction, as SetStatus does. It returns the revocation (nil
// when the subject held no live paper code) and ErrNotFound for an
// unknown subject.
func (db *DB) RevokePaperCodes(ctx context.Context, subjectID string, now time.Time, audit ...AuditEntry) (*Revocation, error) {
	const op = "revoke paper codes"
	if subjectID == "" || now.IsZero() {
		return nil, invalid(op, "missing subject or time")
	}
	var rev *Revocation
	err := db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM subjects WHERE id = ?`, subjectID).Scan(&one); err != nil {
			return notFound("subject", err)
		}
		var err error
		rev, err = revokeCodesOf(ctx, tx, subjectID, true, now)
		return err
	})
	return rev, err
}

// revokeCodesOf revokes, in tx, the subject's paper codes (paper) or
// phone codes (!paper) that a verifier may still accept at now (see
// acceptedCut), and appends their revocation to the outbox: nil when
// there were none.
func revokeCodesOf(ctx context.Context, tx *sql.Tx, subjectID string, paper bool, now time.Time) (*Revocation, error) {
	entries, err := revokeKindOf(ctx, tx, []string{subjectID}, paper, now)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return appendRevocation(ctx, tx, entries, now)
}

// revokeKindOf marks revoked, in tx, the paper codes (paper) or phone
// codes (!paper) of the subjects ids that a verifier may still accept at
// now, and returns them for the caller to append to the outbox.
func revokeKindOf(ctx context.Context, tx *sql.Tx, ids []string, paper bool, now time.Time) ([]RevocationEntry, error) {
	return queryAll(ctx, tx, "revoke codes", scanRevocationEntry, `UPDATE codes SET revoked = 1
		WHERE subject_id IN (SELECT value FROM json_each(?)) AND paper = ? AND revoked = 0 AND expires > ? RETURNING jti, expires`,
		jsonIDs(ids), boolInt(paper), acceptedCut(now))
}
