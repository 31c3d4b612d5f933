package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// outboxEntry is the JSON form of a RevocationEntry in the outbox; exp is
// in Unix nanoseconds, like every time column.
type outboxEntry struct {
	JTI string `json:"jti"`
	Exp int64  `json:"exp"`
}

// appendRevocation adds the revocation of entries to the outbox, as one
// statement per trust.MaxRevocationEntries entries, with consecutive seqs,
// so that no statement is larger than peers accept (or NATS carries). The
// caller's transaction holds the write lock (BEGIN IMMEDIATE on the single
// write connection), so MAX(seq)+1 cannot race, and a rollback takes the
// seqs back with everything else: seqs have no gaps.
//
// The Revocation returned holds every entry, soonest expiry first, and the
// seqs FirstSeq..Seq it was committed as.
func appendRevocation(ctx context.Context, tx *sql.Tx, entries []RevocationEntry, now time.Time) (*Revocation, error) {
	sort.Slice(entries, func(i, j int) bool {
		if !entries[i].Expires.Equal(entries[j].Expires) {
			return entries[i].Expires.Before(entries[j].Expires)
		}
		return entries[i].JTI < entries[j].JTI
	})
	rev := &Revocation{Entries: entries, Created: fromNanos(nanos(now))}
	for part := range slices.Chunk(entries, trust.MaxRevocationEntries) {
		seq, err := appendStatement(ctx, tx, part, now)
		if err != nil {
			return nil, err
		}
		if rev.FirstSeq == 0 {
			rev.FirstSeq = seq
		}
		rev.Seq = seq
	}
	return rev, nil
}

// appendStatement adds one outbox row holding entries with the next seq.
func appendStatement(ctx context.Context, tx *sql.Tx, entries []RevocationEntry, now time.Time) (uint64, error) {
	body, err := encodeEntries(entries)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = tx.QueryRowContext(ctx, `INSERT INTO revocations (seq, entries, created)
		SELECT COALESCE(MAX(seq), 0) + 1, ?, ? FROM revocations
		RETURNING seq`, body, nanos(now)).Scan(&seq)
	return uint64(seq), err
}

// PendingRevocations lists outbox revocations not yet acknowledged by
// JetStream and not set aside as poisoned, by seq.
func (db *DB) PendingRevocations(ctx context.Context) ([]Revocation, error) {
	return queryAll(ctx, db.r, "pending revocations", scanRevocation,
		`SELECT seq, entries, created, published FROM revocations WHERE published = 0 AND poisoned IS NULL ORDER BY seq`)
}

func scanRevocation(row rowScanner) (Revocation, error) {
	var r Revocation
	var seq, created int64
	var body string
	if err := row.Scan(&seq, &body, &created, &r.Published); err != nil {
		return Revocation{}, err
	}
	var out []outboxEntry
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return Revocation{}, fmt.Errorf("decoding seq %d: %w", seq, err)
	}
	r.Seq, r.FirstSeq, r.Created = uint64(seq), uint64(seq), fromNanos(created)
	r.Entries = make([]RevocationEntry, len(out))
	for i, e := range out {
		r.Entries[i] = RevocationEntry{JTI: e.JTI, Expires: fromNanos(e.Exp)}
	}
	return r, nil
}

func scanRevocationEntry(row rowScanner) (RevocationEntry, error) {
	var e RevocationEntry
	var exp int64
	err := row.Scan(&e.JTI, &exp)
	e.Expires = fromNanos(exp)
	return e, err
}

// MarkPublished records that JetStream acknowledged revocation seq.
// Marking one twice is harmless; an unknown seq is ErrNotFound.
func (db *DB) MarkPublished(ctx context.Context, seq uint64) error {
	if seq == 0 || seq > maxInt64 {
		return invalid("mark published", "seq out of range")
	}
	return db.execOne(ctx, "mark published", "revocation",
		`UPDATE revocations SET published = 1 WHERE seq = ?`, int64(seq))
}

// LastRevocationSeq is the highest seq in the outbox (0 if none).
func (db *DB) LastRevocationSeq(ctx context.Context) (uint64, error) {
	var seq int64
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&seq)
	if err != nil {
		return 0, wrap("last revocation seq", err)
	}
	return uint64(seq), nil
}

// maxInt64 bounds the uint64 values SQLite's INTEGER can hold.
const maxInt64 = 1<<63 - 1

// PoisonRevocation sets pending revocation seq aside for good: it can
// never be published (larger than NATS or peers accept, or refused by the
// server), and it must not hold back the revocations after it. The row is
// kept with why (reason, a short fixed phrase, never content) and when;
// its codes stay revoked, so snapshots still carry them. It returns
// ErrNotFound unless seq is pending.
func (db *DB) PoisonRevocation(ctx context.Context, seq uint64, reason string, now time.Time) error {
	if seq == 0 || seq > maxInt64 || reason == "" || now.IsZero() {
		return invalid("poison revocation", "seq out of range, empty reason or zero time")
	}
	return db.execOne(ctx, "poison revocation", "pending revocation",
		`UPDATE revocations SET poisoned = ?, poisoned_at = ? WHERE seq = ? AND published = 0 AND poisoned IS NULL`,
		reason, nanos(now), int64(seq))
}

// OutboxState is what the revocation outbox holds, for metrics and
// readiness.
type OutboxState struct {
	Pending       int       // committed, neither published nor set aside
	OldestPending time.Time // creation of the oldest pending one; zero if none
	Poisoned      int       // set aside by PoisonRevocation
	LastPoisoned  uint64    // highest poisoned seq; 0 if none
	LastPoisonWhy string    // its reason
}

// OutboxState reads the outbox's counts in one query.
func (db *DB) OutboxState(ctx context.Context) (OutboxState, error) {
	var st OutboxState
	var oldest, last sql.NullInt64
	var why sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM revocations WHERE published = 0 AND poisoned IS NULL),
		(SELECT min(created) FROM revocations WHERE published = 0 AND poisoned IS NULL),
		(SELECT count(*) FROM revocations WHERE poisoned IS NOT NULL),
		(SELECT max(seq) FROM revocations WHERE poisoned IS NOT NULL),
		(SELECT poisoned FROM revocations WHERE poisoned IS NOT NULL ORDER BY seq DESC LIMIT 1)`).
		Scan(&st.Pending, &oldest, &st.Poisoned, &last, &why)
	if err != nil {
		return OutboxState{}, wrap("outbox state", err)
	}
	if oldest.Valid {
		st.OldestPending = fromNanos(oldest.Int64)
	}
	st.LastPoisoned, st.LastPoisonWhy = uint64(last.Int64), why.String
	return st, nil
}
