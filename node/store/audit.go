package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
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

// AppendAuditOfSubject appends e, as AppendAudit does, only while the
// resident subjectID still exists; otherwise it appends nothing and
// returns ErrNotFound. The check and the append are one transaction on
// the writer, as a deletion is, so a deletion either comes first (and the
// entry is refused) or finds the entry. A lookup's answer is recorded so:
// a deletion that commits between the read of the contact and its entry
// would otherwise queue no erasure for a contact that still goes out.
func (db *DB) AppendAuditOfSubject(ctx context.Context, subjectID string, e AuditEntry) error {
	entries := []AuditEntry{e}
	if err := checkAudit(entries); err != nil {
		return err
	}
	return db.batch.do(ctx, func(bt *batchTx) error {
		row, err := bt.queryRow(`SELECT 1 FROM subjects WHERE id = ?`, subjectID)
		if err != nil {
			return err
		}
		var one int
		if err := row.Scan(&one); err != nil {
			return notFound("append audit: subject", err)
		}
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
