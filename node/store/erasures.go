package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Erasure is one erasure in the outbox (migration 0017): province Asker
// is to be told to delete the contact data it kept about Codes, because
// the resident behind them was deleted here. It holds no personal data.
type Erasure struct {
	ID       int64
	Asker    string
	Codes    []string // the codes as the asker's lookups reference them (hashed ids)
	Subject  string   // the deletion's audit target
	Actor    string   // the deletion's actor
	Created  time.Time
	Expires  time.Time // the asker's copy ends by then anyway
	Attempts int       // failed attempts so far
	NextTry  time.Time
}

// ErasurePlan is what a deletion queues in the outbox, decided in its own
// transaction, so that a crash cannot commit the deletion without its
// erasures: the audit entries of Action whose target is the subject (the
// newest Limit) are read in that transaction and passed to Make, with the
// erasures pending already, and the erasures Make returns are queued.
// Make must not touch the database.
type ErasurePlan struct {
	Action string
	Limit  int
	Make   func(entries []AuditEntry, pending ErasuresPending) []Erasure
}

// ErasuresPending is what the outbox holds when a deletion plans its
// erasures: how many in all, and how many to each province (a province
// it holds none to is absent), so that each province can be given a
// share of its own.
type ErasuresPending struct {
	Total   int
	ByAsker map[string]int
}

// DeleteSubjectErasing is DeleteSubjectIf that also queues plan's
// erasures in the deletion's transaction.
func (db *DB) DeleteSubjectErasing(ctx context.Context, id string, now time.Time, allow func(status string, unconfirmed bool) error, plan ErasurePlan, audit ...AuditEntry) (*Revocation, error) {
	return db.deleteSubject(ctx, id, now, allow, &plan, audit)
}

// queueErasures reads plan's audit entries about subject in p's
// transaction and inserts the erasures plan makes of them.
func queueErasures(p *prepTx, subject string, plan *ErasurePlan) error {
	entries, err := queryAll(p.ctx, p, "erasures", scanAudit, `SELECT `+auditColumns+` FROM audit
		WHERE action = ? AND target = ? ORDER BY seq DESC LIMIT ?`, plan.Action, subject, plan.Limit)
	if err != nil || len(entries) == 0 {
		return err
	}
	pending, err := erasuresPending(p)
	if err != nil {
		return err
	}
	for _, e := range plan.Make(entries, pending) {
		codes, err := json.Marshal(e.Codes)
		if err != nil {
			return err
		}
		if len(e.Codes) == 0 || e.Asker == "" || !e.Expires.After(e.Created) {
			return fmt.Errorf("erasure to %q: no code, or expiring before it was made", e.Asker)
		}
		if _, err := p.exec(`INSERT INTO erasures (asker, codes, subject, actor, created, expires, next_try)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.Asker, string(codes), e.Subject, e.Actor,
			nanos(e.Created), nanos(e.Expires), nanos(e.Created)); err != nil {
			return err
		}
	}
	return nil
}

// erasuresPending counts the erasures in the outbox, by province (read
// with erasures_by_asker alone: one row per province it holds erasures
// to, a federation's members at most).
func erasuresPending(tx *prepTx) (ErasuresPending, error) {
	type count struct {
		asker string
		n     int
	}
	counts, err := queryAll(tx.ctx, tx, "erasures pending", func(row rowScanner) (count, error) {
		var c count
		return c, row.Scan(&c.asker, &c.n)
	}, erasuresPendingSQL)
	p := ErasuresPending{ByAsker: make(map[string]int, len(counts))}
	for _, c := range counts {
		p.ByAsker[c.asker] = c.n
		p.Total += c.n
	}
	return p, err
}

// erasuresPendingSQL counts erasuresPending's erasures.
const erasuresPendingSQL = `SELECT asker, COUNT(*) FROM erasures GROUP BY asker`

// erasureColumns are the columns scanErasure reads.
const erasureColumns = `id, asker, codes, subject, actor, created, expires, attempts, next_try`

func scanErasure(row rowScanner) (Erasure, error) {
	var e Erasure
	var codes string
	var created, expires, next int64
	if err := row.Scan(&e.ID, &e.Asker, &codes, &e.Subject, &e.Actor, &created, &expires, &e.Attempts, &next); err != nil {
		return Erasure{}, err
	}
	if err := json.Unmarshal([]byte(codes), &e.Codes); err != nil {
		return Erasure{}, fmt.Errorf("decoding erasure %d: %w", e.ID, err)
	}
	e.Created, e.Expires, e.NextTry = fromNanos(created), fromNanos(expires), fromNanos(next)
	return e, nil
}

// DueErasures lists up to limit erasures to asker due at now (their next
// try has come, they have not expired), the longest due first.
func (db *DB) DueErasures(ctx context.Context, asker string, now time.Time, limit int) ([]Erasure, error) {
	if limit <= 0 {
		return nil, invalid("due erasures", "bad limit")
	}
	return queryAll(ctx, db.r, "due erasures", scanErasure, dueErasuresSQL, asker, nanos(now), nanos(now), limit)
}

// dueErasuresSQL reads DueErasures' erasures (asker, now, now, limit).
const dueErasuresSQL = `SELECT ` + erasureColumns + ` FROM erasures
	WHERE asker = ? AND next_try <= ? AND expires > ? ORDER BY next_try, id LIMIT ?`

// ErasureAsker is a province the erasure outbox holds erasures to, and
// when the soonest of them is next due.
type ErasureAsker struct {
	Asker   string
	NextTry time.Time
}

// ErasureAskers lists up to limit provinces the outbox holds erasures to
// that have not expired at now, each with its soonest next try, the
// soonest first: each province's erasures are sent on a schedule of its
// own.
func (db *DB) ErasureAskers(ctx context.Context, now time.Time, limit int) ([]ErasureAsker, error) {
	if limit <= 0 {
		return nil, invalid("erasure askers", "bad limit")
	}
	return queryAll(ctx, db.r, "erasure askers", func(row rowScanner) (ErasureAsker, error) {
		var a ErasureAsker
		var next int64
		err := row.Scan(&a.Asker, &next)
		a.NextTry = fromNanos(next)
		return a, err
	}, erasureAskersSQL, nanos(now), limit)
}

// erasureAskersSQL reads ErasureAskers' provinces (now, limit).
const erasureAskersSQL = `SELECT asker, MIN(next_try) AS next FROM erasures WHERE expires > ?
	GROUP BY asker ORDER BY next, asker LIMIT ?`

// reviveErasuresSQL makes ReviveErasures' erasures due (now, asker, now).
const reviveErasuresSQL = `UPDATE erasures SET next_try = ?, attempts = 0 WHERE asker = ? AND expires > ?`

// ReviveErasures makes every erasure to asker due at now and starts its
// backoff again: the province was seen back. It returns how many.
func (db *DB) ReviveErasures(ctx context.Context, asker string, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, reviveErasuresSQL, nanos(now), asker, nanos(now))
	if err != nil {
		return 0, wrap("revive erasures", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("revive erasures", err)
}

// ErasureState is what the erasure outbox holds: how many erasures, and
// when the soonest is next due (zero if none).
type ErasureState struct {
	Pending int
	NextTry time.Time
}

// ErasureState reads the erasure outbox's size and its soonest next try.
func (db *DB) ErasureState(ctx context.Context) (ErasureState, error) {
	var st ErasureState
	var next int64
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(next_try), 0) FROM erasures`).Scan(&st.Pending, &next)
	if err != nil {
		return ErasureState{}, wrap("erasure state", err)
	}
	st.NextTry = fromNanos(next)
	return st, nil
}

// ErasureSent deletes erasure id: its asker acknowledged it. An erasure
// already gone (expired meanwhile) is not an error.
func (db *DB) ErasureSent(ctx context.Context, id int64) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM erasures WHERE id = ?`, id)
	return wrap("erasure sent", err)
}

// ErasureFailed records a failed attempt at erasure id and when to try it
// next. An erasure already gone is not an error.
func (db *DB) ErasureFailed(ctx context.Context, id int64, nextTry time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE erasures SET attempts = attempts + 1, next_try = ? WHERE id = ?`, nanos(nextTry), id)
	return wrap("erasure failed", err)
}

// DeleteExpiredErasures deletes the erasures expired at now, never
// acknowledged, and returns them.
func (db *DB) DeleteExpiredErasures(ctx context.Context, now time.Time) ([]Erasure, error) {
	return queryAll(ctx, db.w, "delete expired erasures", scanErasure,
		`DELETE FROM erasures WHERE expires <= ? RETURNING `+erasureColumns, nanos(now))
}
