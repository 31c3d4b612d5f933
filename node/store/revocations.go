package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// outboxEntry is the JSON form of a RevocationEntry in the outbox; exp is
// in Unix nanoseconds, like every time column.
type outboxEntry struct {
	JTI string `json:"jti"`
	Exp int64  `json:"exp"`
}

// appendRevocation adds one revocation to the outbox with the next seq.
// The caller's transaction holds the write lock (BEGIN IMMEDIATE on the
// single write connection), so MAX(seq)+1 cannot race, and a rollback
// takes the seq back with everything else: seqs have no gaps.
func appendRevocation(ctx context.Context, tx *sql.Tx, entries []RevocationEntry, now time.Time) (*Revocation, error) {
	sort.Slice(entries, func(i, j int) bool {
		if !entries[i].Expires.Equal(entries[j].Expires) {
			return entries[i].Expires.Before(entries[j].Expires)
		}
		return entries[i].JTI < entries[j].JTI
	})
	out := make([]outboxEntry, len(entries))
	for i, e := range entries {
		out[i] = outboxEntry{JTI: e.JTI, Exp: nanos(e.Expires)}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var seq int64
	err = tx.QueryRowContext(ctx, `INSERT INTO revocations (seq, entries, created)
		SELECT COALESCE(MAX(seq), 0) + 1, ?, ? FROM revocations
		RETURNING seq`, string(body), nanos(now)).Scan(&seq)
	if err != nil {
		return nil, err
	}
	return &Revocation{Seq: uint64(seq), Entries: entries, Created: fromNanos(nanos(now))}, nil
}

// PendingRevocations lists outbox revocations not yet acknowledged by
// JetStream, by seq.
func (db *DB) PendingRevocations(ctx context.Context) ([]Revocation, error) {
	return queryAll(ctx, db.r, "pending revocations", scanRevocation,
		`SELECT seq, entries, created, published FROM revocations WHERE published = 0 ORDER BY seq`)
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
	r.Seq, r.Created = uint64(seq), fromNanos(created)
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
