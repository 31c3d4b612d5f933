package store

import (
	"context"
	"slices"
	"strings"
)

// AuditEntries lists up to limit entries with seq greater than after, in
// order, for display and export by the operator CLI.
func (db *DB) AuditEntries(ctx context.Context, after uint64, limit int) ([]AuditEntry, error) {
	if after > maxInt64 || limit <= 0 {
		return nil, invalid("audit entries", "after or limit out of range")
	}
	return queryAll(ctx, db.r, "audit entries", scanAudit,
		`SELECT `+auditColumns+` FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, int64(after), limit)
}

// maxAuditTargets bounds how many targets one AuditByTargets query names,
// below SQLite's limit on bound parameters.
const maxAuditTargets = 500

// AuditByTargets lists up to limit entries of action whose target is one of
// targets, newest first: the verifications of a resident's codes, found by
// their hashed jtis, for the resident's right to know.
func (db *DB) AuditByTargets(ctx context.Context, action string, targets []string, limit int) ([]AuditEntry, error) {
	const op = "audit by targets"
	if action == "" || len(targets) > maxAuditTargets || limit <= 0 {
		return nil, invalid(op, "empty action, too many targets or bad limit")
	}
	if len(targets) == 0 {
		return nil, nil
	}
	marks, args := targetArgs(action, targets, limit)
	return queryAll(ctx, db.r, op, scanAudit, `SELECT `+auditColumns+` FROM audit
		WHERE action = ? AND target IN (`+marks+`) ORDER BY seq DESC LIMIT ?`, args...)
}

// AuditByTargetsPerActor is AuditByTargets for entries many actors write:
// identical entries (same actor, target and detail) count once, as their
// newest, and each actor keeps at most perActor of them, before the
// newest limit are taken. So one actor writing many entries (a province
// flooding receipts) cannot push the other actors' out of the list.
func (db *DB) AuditByTargetsPerActor(ctx context.Context, action string, targets []string, perActor, limit int) ([]AuditEntry, error) {
	const op = "audit by targets per actor"
	if action == "" || len(targets) > maxAuditTargets || limit <= 0 || perActor <= 0 {
		return nil, invalid(op, "empty action, too many targets or bad limit")
	}
	if len(targets) == 0 {
		return nil, nil
	}
	marks, args := targetArgs(action, targets, perActor, limit)
	return queryAll(ctx, db.r, op, scanAudit, `WITH latest AS (
			SELECT MAX(seq) AS seq, actor FROM audit WHERE action = ? AND target IN (`+marks+`)
			GROUP BY actor, target, detail),
		ranked AS (SELECT seq, ROW_NUMBER() OVER (PARTITION BY actor ORDER BY seq DESC) AS n FROM latest)
		SELECT `+auditColumns+` FROM audit WHERE seq IN (SELECT seq FROM ranked WHERE n <= ?)
		ORDER BY seq DESC LIMIT ?`, args...)
}

// AuditOfLookups lists up to limit entries of cross-province lookups
// (actions lookup.*) whose detail contains any of needles (at most
// maxLookupNeedles), newest first: an auditor's search for the lookups
// of one case, by its tag. It reads the partial index of lookup entries
// (migration 0012), not the whole log.
func (db *DB) AuditOfLookups(ctx context.Context, needles []string, limit int) ([]AuditEntry, error) {
	const op = "audit of lookups"
	if len(needles) == 0 || len(needles) > maxLookupNeedles || slices.Contains(needles, "") || limit <= 0 {
		return nil, invalid(op, "no needle, too many, an empty one or a bad limit")
	}
	args := make([]any, 0, len(needles)+1)
	for _, n := range needles {
		args = append(args, n)
	}
	return queryAll(ctx, db.r, op, scanAudit, auditOfLookupsQuery(len(needles)), append(args, limit)...)
}

// maxLookupNeedles bounds how many strings one AuditOfLookups matches.
const maxLookupNeedles = 4

// auditOfLookupsQuery repeats the partial index's condition word for word:
// that is what lets SQLite use it.
func auditOfLookupsQuery(needles int) string {
	match := strings.Repeat(`instr(detail, ?) > 0 OR `, needles-1) + `instr(detail, ?) > 0`
	return `SELECT ` + auditColumns + ` FROM audit
	WHERE action GLOB 'lookup.*' AND (` + match + `) ORDER BY seq DESC LIMIT ?`
}

// targetArgs is the query arguments of an audit query by targets: action,
// each target, then tail; and the placeholders of the targets' IN list.
// targets must not be empty.
func targetArgs(action string, targets []string, tail ...any) (marks string, args []any) {
	args = make([]any, 0, 1+len(targets)+len(tail))
	args = append(args, action)
	for _, t := range targets {
		args = append(args, t)
	}
	return strings.Repeat(",?", len(targets))[1:], append(args, tail...)
}

// AuditDetailsOf lists the details of up to limit entries of action by
// actor about target, newest first: what a home node recorded already
// of one province's verifications of one of its codes. It reads the
// target's entries through the index on target (migration 0003).
func (db *DB) AuditDetailsOf(ctx context.Context, action, actor, target string, limit int) ([]string, error) {
	const op = "audit details of"
	if action == "" || actor == "" || target == "" || limit <= 0 {
		return nil, invalid(op, "empty action, actor or target, or bad limit")
	}
	return queryAll(ctx, db.r, op, func(row rowScanner) (string, error) {
		var d string
		return d, row.Scan(&d)
	}, `SELECT detail FROM audit WHERE target = ? AND action = ? AND actor = ? ORDER BY seq DESC LIMIT ?`,
		target, action, actor, limit)
}
