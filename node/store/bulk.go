package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"time"
)

// MaxStatusBatch bounds how many status changes SetStatusBatch commits in
// one transaction: the write lock is held for the whole batch, so issuance
// waits at most one batch.
const MaxStatusBatch = 2000

// StatusChange is one subject's new status in a SetStatusBatch.
type StatusChange struct {
	SubjectID string
	Status    string
	// Audit is appended to the audit chain, in the batch's transaction,
	// if and only if the change is applied.
	Audit AuditEntry
}

// StatusOutcome is what SetStatusBatch did with one StatusChange.
type StatusOutcome int

// Outcomes of a StatusChange.
const (
	StatusApplied   StatusOutcome = iota + 1 // the status changed; live codes revoked
	StatusUnchanged                          // the subject already had it: nothing written, nothing revoked
	StatusNoSubject                          // no such subject (or deleted)
)

// SetStatusBatch applies changes in one transaction, each as SetStatus
// would, with two differences that make a batch idempotent: a subject
// that already has the status is left alone (StatusUnchanged: no write, no
// revocation, no audit entry), and an unknown subject is reported as
// StatusNoSubject rather than failing the batch. The codes revoked by all
// applied changes are appended to the outbox together, in as few
// statements as the entry limit allows, and returned (nil if none).
//
// The outcomes are in the order of changes. Either the whole batch
// commits or none of it does: an error means nothing was changed. It
// returns ErrInvalid for an unknown status, a zero time, a bad audit entry
// or more than MaxStatusBatch changes.
func (db *DB) SetStatusBatch(ctx context.Context, changes []StatusChange, now time.Time) ([]StatusOutcome, *Revocation, error) {
	const op = "set status batch"
	if now.IsZero() || len(changes) > MaxStatusBatch {
		return nil, nil, invalid(op, "zero time or batch too large")
	}
	for _, c := range changes {
		if !statuses[c.Status] || c.SubjectID == "" {
			return nil, nil, invalid(op, "unknown status or empty subject id")
		}
		if err := checkAudit([]AuditEntry{c.Audit}); err != nil {
			return nil, nil, err
		}
	}
	outcomes := make([]StatusOutcome, len(changes))
	var rev *Revocation
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		p := newPrepTx(ctx, tx)
		var entries []RevocationEntry
		var audit []AuditEntry
		for _, run := range distinctRuns(changes) {
			live, err := setStatusRun(p, changes, run, outcomes, now)
			if err != nil {
				return err
			}
			entries = append(entries, live...)
			for _, i := range run {
				if outcomes[i] == StatusApplied {
					audit = append(audit, changes[i].Audit)
				}
			}
		}
		if len(entries) > 0 {
			var err error
			if rev, err = appendRevocation(ctx, tx, entries, now); err != nil {
				return err
			}
		}
		return appendAudit(p, audit)
	})
	if err != nil {
		return nil, nil, err
	}
	var applied []string
	for i, o := range outcomes {
		if o == StatusApplied {
			applied = append(applied, changes[i].SubjectID)
		}
	}
	db.issue.forget(applied...)
	return outcomes, rev, nil
}

// setStatusRun applies changes[i] for i in run, whose subjects are
// distinct, recording each outcome, and returns the codes it revoked.
func setStatusRun(p *prepTx, changes []StatusChange, run []int, outcomes []StatusOutcome, now time.Time) ([]RevocationEntry, error) {
	byStatus := map[string][]string{}
	for _, i := range run {
		byStatus[changes[i].Status] = append(byStatus[changes[i].Status], changes[i].SubjectID)
	}
	applied := map[string]bool{}
	for status, ids := range byStatus {
		changed, err := updateStatuses(p, ids, status, now, true)
		if err != nil {
			return nil, err
		}
		maps.Copy(applied, changed)
	}
	var appliedIDs, rest []string
	for _, i := range run {
		if id := changes[i].SubjectID; applied[id] {
			appliedIDs = append(appliedIDs, id)
		} else {
			rest = append(rest, id)
		}
	}
	exists := map[string]bool{}
	if len(rest) > 0 {
		var err error
		if exists, err = idSet(p, `SELECT id FROM subjects WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(rest)); err != nil {
			return nil, err
		}
	}
	for _, i := range run {
		switch id := changes[i].SubjectID; {
		case applied[id]:
			outcomes[i] = StatusApplied
		case exists[id]:
			outcomes[i] = StatusUnchanged
		default:
			outcomes[i] = StatusNoSubject
		}
	}
	if len(appliedIDs) == 0 {
		return nil, nil
	}
	return revokeLiveEntries(p, appliedIDs, now)
}

// distinctRuns splits the indices of changes, in order, into consecutive
// runs in which no subject appears twice, so that each run can be applied
// set-wise and a later line for a subject still follows an earlier one.
func distinctRuns(changes []StatusChange) [][]int {
	var runs [][]int
	var run []int
	seen := map[string]bool{}
	for i, c := range changes {
		if seen[c.SubjectID] {
			runs, run, seen = append(runs, run), nil, map[string]bool{}
		}
		seen[c.SubjectID] = true
		run = append(run, i)
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	return runs
}

// jsonIDs encodes ids as a JSON array, for json_each.
func jsonIDs(ids []string) string {
	b, _ := json.Marshal(ids) // strings always encode
	return string(b)
}

// idSet runs a query returning one text column and collects its values.
func idSet(p *prepTx, query string, args ...any) (map[string]bool, error) {
	st, err := p.stmt(query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(p.ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		set[id] = true
	}
	return set, rows.Err()
}

// prepTx runs statements in one transaction, each prepared once and kept
// until the transaction ends: a batch of many lines parses its SQL once.
// It serves appendAudit as a txStmts.
type prepTx struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newPrepTx(ctx context.Context, tx *sql.Tx) *prepTx {
	return &prepTx{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}}
}

func (p *prepTx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := p.stmts[query]; ok {
		return st, nil
	}
	st, err := p.tx.PrepareContext(p.ctx, query) // closed when the transaction ends
	if err != nil {
		return nil, err
	}
	p.stmts[query] = st
	return st, nil
}

func (p *prepTx) exec(query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(p.ctx, args...)
}

// QueryContext runs query, prepared once in p's transaction, so that
// queryAll can read through p; ctx is p's.
func (p *prepTx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(p.ctx, args...)
}

func (p *prepTx) queryRow(query string, args ...any) (*sql.Row, error) {
	st, err := p.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(p.ctx, args...), nil
}

// stmtQuerier lets queryAll run a prepared statement; its query argument
// is ignored.
type stmtQuerier struct{ st *sql.Stmt }

func (q stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return q.st.QueryContext(ctx, args...)
}
