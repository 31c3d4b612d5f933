package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// statuses are the health statuses a subject may have.
var statuses = map[string]bool{"green": true, "yellow": true, "red": true}

// CreateSubject enrols a subject with its consent and resident token in one
// transaction. The data key goes to the key store first: a subject row
// never exists without its key, and should the enrolment fail after the
// key was stored, the key is deleted again.
//
// c.SubjectID and t.SubjectID may be left empty and are then taken from
// s.ID; t.Role may be empty and is then "resident" — an enrolment can mint
// no other kind of token. A zero t (nil Hash) enrols without a token, for
// residents who have no phone. It returns ErrConflict if the id (or token
// hash) is taken, a *DuplicateError (which is an ErrConflict) naming the
// subject that already holds s.IDIndex, and ErrInvalid for a missing id,
// data key or consent, or an unknown status. The audit entries are
// appended in the same transaction.
func (db *DB) CreateSubject(ctx context.Context, s Subject, c Consent, t Token, audit ...AuditEntry) error {
	const op = "create subject"
	switch {
	case s.ID == "" || len(s.DataKey) == 0:
		return invalid(op, "missing id or data key")
	case !statuses[s.Status]:
		return invalid(op, "unknown status")
	case c.SubjectID != "" && c.SubjectID != s.ID:
		return invalid(op, "consent is for another subject")
	case c.NoticeVersion == "" || c.AcceptedAt.IsZero():
		return invalid(op, "consent without notice version or acceptance time")
	}
	withToken := len(t.Hash) > 0
	t, ok := bindToken(t, Token{Role: "resident", SubjectID: s.ID})
	if withToken && !ok {
		return invalid(op, "token is not this subject's resident token")
	}
	fields, err := json.Marshal(nonNil(c.Fields))
	if err != nil {
		return wrap(op, err)
	}
	if err := db.putSubjectKey(ctx, s.ID, s.DataKey, s.IDIndex); err != nil {
		return err
	}
	err = db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subjects
			(id, name_ct, id_number_ct, phone_ct, masked_ct, status, status_since, created, retain_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.NameCT, s.IDNumberCT, s.PhoneCT, s.MaskedCT, s.Status,
			nanos(s.StatusSince), nanos(s.Created), nanos(s.RetainUntil)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consents
			(subject_id, notice_version, accepted_at, fields, purpose, notice_sha256) VALUES (?, ?, ?, ?, ?, ?)`,
			s.ID, c.NoticeVersion, nanos(c.AcceptedAt), string(fields), c.Purpose, c.NoticeSHA256); err != nil {
			return err
		}
		if !withToken {
			return nil
		}
		return insertToken(ctx, tx, t)
	})
	if err != nil {
		// The id is this enrolment's (putSubjectKey refused a taken one).
		_ = db.shredSubjectKeys(context.WithoutCancel(ctx), []string{s.ID})
	}
	return err
}

// Subject reads one subject, with its data key from the key store;
// ErrNotFound if absent, deleted, or its key is shredded.
func (db *DB) Subject(ctx context.Context, id string) (Subject, error) {
	var s Subject
	var since, created, retain int64
	err := db.readRow(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE id = ?`, id).
		Scan(&s.ID, &s.NameCT, &s.IDNumberCT, &s.PhoneCT, &s.MaskedCT,
			&s.Status, &since, &created, &retain, &s.StatusUnconfirmed)
	return db.finishSubject(ctx, s, since, created, retain, err)
}

// SubjectForIssue reads what issuing a code needs of a subject — its id,
// status, masked display fields (MaskedCT) and data key; the other fields
// are left zero. The name, ID-number and phone ciphertexts are not read:
// issuance never opens them. The returned slices must not be modified.
//
// It answers from the issuance cache when it can (issuecache.go). From the
// database, it counts the subject's live codes at now in the same query
// and returns ErrTooManyCodes when they reach maxLive (maxLive ≤ 0: no
// bound), and ErrStatusUnconfirmed for a subject so marked, so that
// issuance is refused before it signs; such a subject is not cached. A cached answer skips the count: InsertCode checks the
// bound (and the status, and that the subject still exists) in any case,
// and a refusal there drops the entry.
func (db *DB) SubjectForIssue(ctx context.Context, id string, now time.Time, maxLive int) (Subject, error) {
	if err := ctx.Err(); err != nil {
		return Subject{}, err
	}
	if s, ok := db.issue.get(id); ok {
		return s, nil
	}
	gen := db.issue.generation()
	var s Subject
	var live int
	var retain int64
	err := db.keysGate.read(func() error {
		return db.readRow(ctx, issueSubjectQuery, nanos(now), id).Scan(&s.ID, &s.MaskedCT, &s.Status, &retain, &live, &s.DataKey,
			&s.StatusUnconfirmed)
	})
	s.RetainUntil = fromNanos(retain)
	switch {
	case err != nil:
		return Subject{}, wrap("subject", err)
	case s.StatusUnconfirmed:
		return Subject{}, fmt.Errorf("store: subject: %w", ErrStatusUnconfirmed)
	case maxLive > 0 && live >= maxLive:
		return Subject{}, fmt.Errorf("store: subject: %w (%d)", ErrTooManyCodes, maxLive)
	}
	db.issue.fill(s, gen)
	return s, nil
}

// detachCodesSQL keeps a deleted subject's codes, for revocation and
// expiry, without the subject or the code texts sealed under their key.
const detachCodesSQL = `UPDATE codes SET subject_id = NULL, text_ct = NULL WHERE subject_id = ?`

// issueSubjectQuery is SubjectForIssue's query: the live-code count is a
// range of codes_of_subject (codes of a compromised key left out).
var issueSubjectQuery = `SELECT s.id, s.masked_ct, s.status, s.retain_until, ` + liveCountSQL("s.id", "?1") + `, k.sealed,
	s.status_unconfirmed FROM subjects s JOIN keys.subject_keys k ON k.id = s.id WHERE s.id = ?2`

// subjectColumns are the columns Subject reads, in its Scan order.
const subjectColumns = `id, name_ct, id_number_ct, phone_ct, masked_ct, status, status_since, created, retain_until, status_unconfirmed`

// finishSubject completes a subject row read with err: its data key and
// times.
func (db *DB) finishSubject(ctx context.Context, s Subject, since, created, retain int64, err error) (Subject, error) {
	if err != nil {
		return Subject{}, wrap("subject", err)
	}
	if s.DataKey, err = db.subjectKey(ctx, s.ID); err != nil {
		return Subject{}, err
	}
	s.StatusSince, s.Created, s.RetainUntil = fromNanos(since), fromNanos(created), fromNanos(retain)
	return s, nil
}

// Consent reads a subject's consent record; ErrNotFound if the subject is
// absent or deleted.
func (db *DB) Consent(ctx context.Context, subjectID string) (Consent, error) {
	var c Consent
	var accepted int64
	var fields string
	err := db.r.QueryRowContext(ctx, `SELECT subject_id, notice_version, accepted_at, fields, purpose, notice_sha256
		FROM consents WHERE subject_id = ?`, subjectID).
		Scan(&c.SubjectID, &c.NoticeVersion, &accepted, &fields, &c.Purpose, &c.NoticeSHA256)
	if err != nil {
		return Consent{}, wrap("consent", err)
	}
	c.AcceptedAt = fromNanos(accepted)
	if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
		return Consent{}, wrap("consent", fmt.Errorf("decoding fields: %w", err))
	}
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	return c, nil
}

// SetStatus changes a subject's status and, in the same transaction,
// revokes every unexpired, unrevoked code of theirs, appending one outbox
// revocation (next seq) if there were any. It returns that revocation, or
// nil when no code needed revoking.
//
// A code counts as unexpired when it expires after now; now also becomes
// the status's start and the revocation's creation time. Setting the status
// a subject already has still revokes their live codes. It returns
// ErrNotFound for an unknown subject and ErrInvalid for an unknown status.
// The audit entries are appended in the same transaction.
func (db *DB) SetStatus(ctx context.Context, id, status string, now time.Time, audit ...AuditEntry) (*Revocation, error) {
	const op = "set status"
	if !statuses[status] || now.IsZero() {
		return nil, invalid(op, "unknown status or zero time")
	}
	var rev *Revocation
	err := db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		var err error
		rev, err = setStatus(ctx, tx, id, status, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	db.issue.forget(id)
	return rev, nil
}

// setStatus is SetStatus inside the caller's transaction.
func setStatus(ctx context.Context, tx *sql.Tx, id, status string, now time.Time) (*Revocation, error) {
	changed, err := updateStatuses(newPrepTx(ctx, tx), []string{id}, status, now, false)
	if err != nil {
		return nil, err
	}
	if !changed[id] {
		return nil, notFound("subject", nil)
	}
	return revokeLive(ctx, tx, id, now)
}

// updateStatuses sets the status of the subjects ids (each named once),
// starting now, and returns the ids whose row it wrote; unknown ids are
// not among them. With onlyIfChanged, a subject that already has status
// is left as it is (its status_since too), unless it is marked
// StatusUnconfirmed: setting the status it holds confirms it. SetStatus
// and SetStatusBatch both change statuses through here, one statement for
// all ids, and both clear the mark.
func updateStatuses(p *prepTx, ids []string, status string, now time.Time, onlyIfChanged bool) (map[string]bool, error) {
	q := `UPDATE subjects SET status = ?1, status_since = ?2, status_unconfirmed = 0 WHERE id IN (SELECT value FROM json_each(?3))`
	if onlyIfChanged {
		q += ` AND (status <> ?1 OR status_unconfirmed = 1)`
	}
	return idSet(p, q+` RETURNING id`, status, nanos(now), jsonIDs(ids))
}

// DeleteSubject revokes the subject's unexpired codes (outbox, as
// SetStatus) and deletes the subject row with its consent, tokens and
// appeals in one transaction, which shreds the subject's data key in the
// key store just before it commits. Should the commit fail after that,
// the key is already gone: the leftover rows are unreadable, Subject
// reports ErrNotFound, and calling DeleteSubject again finishes the job.
// Once committed, the key's old frames are emptied from keys.db's WAL;
// should that fail, or a reader hold the file, the deletion stands and
// KeysWALPending says so until FinishShredding empties it.
//
// Code rows keep their jti, key id, times and revoked flag (needed for
// revocation snapshots until they expire) but lose their subject link and
// sealed text.
//
// It returns the revocation, nil if no code was live, and ErrNotFound for
// an unknown (or already deleted) subject. The audit entries are appended
// in the same transaction as the deletion.
func (db *DB) DeleteSubject(ctx context.Context, id string, now time.Time, audit ...AuditEntry) (*Revocation, error) {
	return db.DeleteSubjectIf(ctx, id, now, nil, audit...)
}

// DeleteSubjectIf is DeleteSubject for a deletion that a subject's status
// may forbid: allow (if not nil; it must not touch the database) is
// called with the subject's status and its StatusUnconfirmed mark, and an
// error from it is returned, wrapped, with nothing changed.
//
// The status is read in the deletion's transaction, which holds node.db's
// write lock and shreds the key just before it commits: a status change
// committed before the deletion holds the subject, one after it finds no
// subject. No status change can come between the judgement and the
// shredding.
func (db *DB) DeleteSubjectIf(ctx context.Context, id string, now time.Time, allow func(status string, unconfirmed bool) error, audit ...AuditEntry) (*Revocation, error) {
	return db.deleteSubject(ctx, id, now, allow, nil, audit)
}

// deleteSubject implements DeleteSubjectIf, queueing plan's erasures (if
// not nil) in the deletion's transaction: a batch of one.
func (db *DB) deleteSubject(ctx context.Context, id string, now time.Time, allow func(status string, unconfirmed bool) error, plan *ErasurePlan, audit []AuditEntry) (*Revocation, error) {
	var rev *Revocation
	var outcome error
	reported := false
	err := db.DeleteSubjects(ctx, now, allow, []SubjectDeletion{{ID: id, Plan: plan, Audit: audit}},
		func(_ SubjectDeletion, r *Revocation, err error) error {
			rev, outcome, reported = r, err, true
			return nil
		})
	if reported && outcome == nil {
		// Committed: the deletion stands, and its caller must revoke the
		// codes and send the erasures. Emptying keys.db's WAL after it
		// may have failed; that is left to FinishShredding
		// (KeysWALPending), as when a reader holds the file.
		return rev, nil
	}
	return rev, cmp.Or(err, outcome)
}

// revokeLive marks the subject's unexpired, unrevoked codes revoked and
// appends them to the outbox as one revocation; nil if there were none.
func revokeLive(ctx context.Context, tx *sql.Tx, subjectID string, now time.Time) (*Revocation, error) {
	entries, err := revokeLiveEntries(newPrepTx(ctx, tx), []string{subjectID}, now)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return appendRevocation(ctx, tx, entries, now)
}

// revokeLiveSQL revokes the live codes of the subjects in a JSON array of
// ids whose expiry is past a cut, returning them.
const revokeLiveSQL = `UPDATE codes SET revoked = 1
	WHERE subject_id IN (SELECT value FROM json_each(?)) AND revoked = 0 AND expires > ?
	RETURNING jti, expires`

// revokeLiveEntries marks the unrevoked codes of the subjects ids that a
// verifier may still accept at now (acceptedCut: up to trust.ClockSkew
// past their expiry) revoked and returns them, for the caller to append to
// the outbox.
func revokeLiveEntries(p *prepTx, ids []string, now time.Time) ([]RevocationEntry, error) {
	st, err := p.stmt(revokeLiveSQL)
	if err != nil {
		return nil, err
	}
	return queryAll(p.ctx, stmtQuerier{st}, "revoke", scanRevocationEntry, "", jsonIDs(ids), acceptedCut(now))
}

// notFound turns a missing row (sql.ErrNoRows or nil from a zero
// RowsAffected) into ErrNotFound naming what was missing, and passes other
// errors through.
func notFound(what string, err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

// nonNil makes a nil slice encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
