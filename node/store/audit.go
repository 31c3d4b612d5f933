package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// auditHeadKey is the meta row holding the chain head, "<seq>:<hex hash>",
// written in the same transaction as the entry it names. Comparing it with
// the last row is what reveals a truncated tail, which the links alone
// cannot.
const auditHeadKey = reservedMeta + "audit.head"

// auditAnchorKey is the meta row holding the chain anchor, "<seq>:<hex
// hash>": the last entry PruneAudit deleted, which the first remaining entry
// links to. It is absent until the first prune.
const auditAnchorKey = reservedMeta + "audit.anchor"

// The entry PruneAudit appends names the anchor it moved to, so that the
// anchor is covered by the chain itself. AppendAudit refuses the action:
// only a prune writes one.
const (
	auditPruneActor  = "system"
	auditPruneAction = "audit.prune"
)

// auditGenesis is the Prev of the first entry.
var auditGenesis = make([]byte, sha256.Size)

// ErrAuditBroken is wrapped by every *AuditError: the audit chain does not
// verify.
var ErrAuditBroken = errors.New("audit chain broken")

// AuditError names the first entry at which the audit chain fails to
// verify, and how.
type AuditError struct {
	Seq    uint64 // the first bad (or missing) entry
	Reason string
}

// Error implements error.
func (e *AuditError) Error() string {
	return fmt.Sprintf("store: audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Unwrap lets errors.Is(err, ErrAuditBroken) match.
func (e *AuditError) Unwrap() error { return ErrAuditBroken }

// AppendAudit appends an entry to the hash chain, filling Seq, Prev and
// Hash. Time must be set by the caller.
//
// Appends are group-committed like InsertCode, and serialized: each entry
// links to the one committed just before it, never two to the same Prev.
// Actor and Action must be set; Target and Detail must carry no personal
// data.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) error {
	return db.AppendAuditBatch(ctx, []AuditEntry{e})
}

// AppendAuditBatch appends entries to the chain in order, all or none, as
// AppendAudit does for one. It is for a caller that buffers entries
// itself (an auditor goroutine that must not make each verification wait
// for a commit). Seq, Prev and Hash of the given entries are ignored.
func (db *DB) AppendAuditBatch(ctx context.Context, entries []AuditEntry) error {
	if err := checkAudit(entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	entries = append([]AuditEntry(nil), entries...) // the caller may reuse its slice once we return
	return db.batch.do(ctx, func(bt *batchTx) error {
		return bt.atomically(func() error { return appendAudit(bt, entries) })
	}, nil)
}

// checkAudit refuses entries no caller may append: without time, actor or
// action, or claiming to be a prune.
func checkAudit(entries []AuditEntry) error {
	const op = "append audit"
	for _, e := range entries {
		if e.Time.IsZero() || e.Actor == "" || e.Action == "" {
			return invalid(op, "missing time, actor or action")
		}
		if e.Action == auditPruneAction {
			return invalid(op, "action "+auditPruneAction+" is written by PruneAudit only")
		}
	}
	return nil
}

// txStmts is what appendAudit needs of a transaction: a group-commit
// batch (*batchTx) or one mutation's own transaction (sqlTx), so that an
// operator's change and its audit entry commit together, through one
// append path.
type txStmts interface {
	exec(query string, args ...any) (sql.Result, error)
	queryRow(query string, args ...any) (*sql.Row, error)
}

// sqlTx adapts a *sql.Tx to txStmts.
type sqlTx struct {
	ctx context.Context
	tx  *sql.Tx
}

func (t sqlTx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t sqlTx) queryRow(query string, args ...any) (*sql.Row, error) {
	return t.tx.QueryRowContext(t.ctx, query, args...), nil
}

// auditRowsPerInsert is how many audit entries one INSERT writes when many
// are appended at once (a bulk status batch appends one per line): one
// statement per row cost a third of the bulk path's store time.
const auditRowsPerInsert = 50

// auditInsert is the INSERT of rows audit entries, 8 arguments each.
func auditInsert(rows int) string {
	if rows == 1 {
		return auditInsertOne
	}
	return auditInsertMany
}

var (
	auditInsertOne  = `INSERT INTO audit (seq, time, actor, action, target, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	auditInsertMany = auditInsertOne + strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?, ?)`, auditRowsPerInsert-1)
)

// appendAudit chains entries onto the head recorded in meta, inserts them
// and moves the head, inside the caller's transaction.
func appendAudit(bt txStmts, entries []AuditEntry) error {
	const op = "append audit"
	if len(entries) == 0 {
		return nil
	}
	row, err := bt.queryRow(`SELECT value FROM meta WHERE key = ?`, auditHeadKey)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	head, err := readAuditMark(row)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	seq, prev := head.seq, head.hash
	args := make([]any, 0, 8*len(entries))
	for _, e := range entries {
		seq++
		e.Seq, e.Prev = seq, prev
		e.Hash = auditHash(e)
		prev = e.Hash
		args = append(args, int64(e.Seq), nanos(e.Time), e.Actor, e.Action, e.Target, e.Detail, e.Prev, e.Hash)
	}
	// Whole groups go in one INSERT each, the rest one row at a time: two
	// statements to prepare, however many entries.
	for len(args) > 0 {
		rows := 1
		if len(args) >= 8*auditRowsPerInsert {
			rows = auditRowsPerInsert
		}
		if _, err := bt.exec(auditInsert(rows), args[:8*rows]...); err != nil {
			return wrap(op, err)
		}
		args = args[8*rows:]
	}
	_, err = bt.exec(`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, auditHeadKey, auditMark{seq, prev}.String())
	return wrap(op, err)
}

// VerifyAudit recomputes the chain and reports the first broken link:
// an edited, deleted, reordered or truncated entry, or oldest entries
// deleted other than by PruneAudit.
//
// The chain starts at the anchor PruneAudit left (the genesis value before
// any prune): the first entry must follow it in seq and link to its hash,
// and the newest audit.prune entry in the chain must name that very
// anchor, so an anchor moved to hide a deletion is reported too.
//
// It returns how many entries verified before the first failure (all of
// them on success) and, for a broken chain, an *AuditError wrapping
// ErrAuditBroken. The whole check reads one snapshot, so appends running
// meanwhile do not disturb it.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	const op = "verify audit"
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, wrap(op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	q := func(query string, args ...any) *sql.Row { return tx.QueryRowContext(ctx, query, args...) }
	head, anchor, err := readAuditMarks(q)
	if err != nil {
		return 0, wrap(op, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit ORDER BY seq`)
	if err != nil {
		return 0, wrap(op, err)
	}
	defer rows.Close()
	w := newAuditWalk(anchor)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return w.count(), wrap(op, err)
		}
		if err := w.step(e); err != nil {
			return w.count(), err
		}
	}
	if err := rows.Err(); err != nil {
		return w.count(), wrap(op, err)
	}
	n, end := w.count(), w.next-1
	switch {
	case head.seq > end:
		return n, &AuditError{Seq: end + 1, Reason: fmt.Sprintf("log truncated: head is seq %d", head.seq)}
	case head.seq < end:
		return int(max(head.seq, anchor.seq) - anchor.seq), &AuditError{Seq: head.seq + 1, Reason: "entries beyond the recorded head"}
	case !bytes.Equal(head.hash, w.last):
		return max(n-1, 0), &AuditError{Seq: head.seq, Reason: "last entry does not match the recorded head"}
	case w.pruned.seq != anchor.seq || !bytes.Equal(w.pruned.hash, anchor.hash):
		return 0, &AuditError{Seq: anchor.seq + 1, Reason: fmt.Sprintf(
			"anchor at seq %d is not the one the last audit.prune entry recorded (seq %d)", anchor.seq, w.pruned.seq)}
	}
	return n, nil
}

// auditWalk follows the chain entry by entry from a mark: the anchor, or
// the genesis value.
type auditWalk struct {
	from   auditMark
	next   uint64    // the seq the next entry must have
	last   []byte    // the hash the next entry must link to
	pruned auditMark // the anchor named by the newest audit.prune entry seen
}

func newAuditWalk(from auditMark) *auditWalk {
	return &auditWalk{from: from, next: from.seq + 1, last: from.hash, pruned: auditMark{0, auditGenesis}}
}

// count is how many entries verified so far.
func (w *auditWalk) count() int { return int(w.next - w.from.seq - 1) }

// step checks that e is the next entry of the chain.
func (w *auditWalk) step(e AuditEntry) error {
	first := w.next == w.from.seq+1
	switch {
	case first && e.Seq < w.next:
		return &AuditError{Seq: e.Seq, Reason: fmt.Sprintf("entry at or before the anchor (seq %d)", w.from.seq)}
	case e.Seq != w.next:
		return &AuditError{Seq: w.next, Reason: "entry missing or out of order"}
	case first && !bytes.Equal(e.Prev, w.last):
		return &AuditError{Seq: e.Seq, Reason: "first entry does not link to the anchor"}
	case !bytes.Equal(e.Prev, w.last):
		return &AuditError{Seq: e.Seq, Reason: "link to the previous entry broken"}
	case !bytes.Equal(auditHash(e), e.Hash):
		return &AuditError{Seq: e.Seq, Reason: "entry altered"}
	}
	if e.Actor == auditPruneActor && e.Action == auditPruneAction {
		m, err := parseAuditPruned(e.Detail)
		if err != nil || m.seq >= e.Seq {
			return &AuditError{Seq: e.Seq, Reason: "audit.prune entry malformed"}
		}
		w.pruned = m
	}
	w.next, w.last = e.Seq+1, e.Hash
	return nil
}

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

const auditColumns = `seq, time, actor, action, target, detail, prev, hash`

func scanAudit(r rowScanner) (AuditEntry, error) {
	var e AuditEntry
	var seq, t int64
	err := r.Scan(&seq, &t, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Prev, &e.Hash)
	e.Seq, e.Time = uint64(seq), fromNanos(t)
	return e, err
}

// auditHash is SHA-256 over Prev followed by the canonical encoding of the
// entry: seq and time (Unix nanoseconds) as 8-byte big-endian integers,
// then actor, action, target and detail, each as an 8-byte big-endian
// length and its bytes. Length prefixes keep field boundaries unambiguous.
func auditHash(e AuditEntry) []byte {
	h := sha256.New()
	h.Write(e.Prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], e.Seq)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UnixNano()))
	h.Write(n[:])
	for _, s := range [...]string{e.Actor, e.Action, e.Target, e.Detail} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// auditMark is a position in the chain, the head or the anchor: a seq and
// the hash of the entry at it, stored in meta as "<seq>:<hex hash>".
type auditMark struct {
	seq  uint64
	hash []byte
}

func (m auditMark) String() string {
	return strconv.FormatUint(m.seq, 10) + ":" + hex.EncodeToString(m.hash)
}

// readAuditMarks reads the chain head and anchor with q, in one snapshot.
func readAuditMarks(q func(query string, args ...any) *sql.Row) (head, anchor auditMark, err error) {
	const query = `SELECT value FROM meta WHERE key = ?`
	if head, err = readAuditMark(q(query, auditHeadKey)); err != nil {
		return head, anchor, err
	}
	anchor, err = readAuditMark(q(query, auditAnchorKey))
	return head, anchor, err
}

// readAuditMark reads a chain mark from its meta row: seq 0 and the
// genesis hash when the row is absent (an empty or never pruned log).
func readAuditMark(row *sql.Row) (auditMark, error) {
	var v string
	switch err := row.Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return auditMark{0, auditGenesis}, nil
	case err != nil:
		return auditMark{}, err
	}
	s, h, ok := strings.Cut(v, ":")
	seq, err1 := strconv.ParseUint(s, 10, 63)
	hash, err2 := hex.DecodeString(h)
	if !ok || err1 != nil || err2 != nil || len(hash) != sha256.Size {
		return auditMark{}, fmt.Errorf("audit head or anchor malformed: %w", ErrAuditBroken)
	}
	return auditMark{seq, hash}, nil
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
