package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// PruneAudit deletes the oldest audit entries whose time is before
// before, for audit-log retention (privacy.retention.audit), and returns
// how many went. It deletes a prefix of the chain only: it stops at the
// first entry not yet due, so an entry timed out of order waits for those
// before it, and it never deletes the newest entry.
//
// In the same transaction it moves the chain anchor to the last deleted
// entry and appends an audit.prune entry naming that anchor, timed at the
// newest entry or at before, whichever is later (the store has no clock).
// The prefix is verified before anything is deleted: if it does not
// verify, PruneAudit deletes nothing and returns the *AuditError, so
// retention never erases the evidence of tampering.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := db.write(ctx, "prune audit", func(tx *sql.Tx) error {
		var err error
		n, err = pruneAudit(&batchTx{tx: tx, stmts: make(map[string]*sql.Stmt)}, before)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// pruneAudit does PruneAudit's work in bt's transaction.
func pruneAudit(bt *batchTx, before time.Time) (int, error) {
	q := func(query string, args ...any) *sql.Row { return bt.tx.QueryRow(query, args...) }
	head, anchor, err := readAuditMarks(q)
	if err != nil {
		return 0, err
	}
	// keep is the oldest entry kept: the first one not yet due, or the newest.
	keep := head.seq
	var fresh int64
	switch err := q(`SELECT seq FROM audit WHERE seq > ? AND time >= ? ORDER BY seq LIMIT 1`,
		int64(anchor.seq), nanos(before)).Scan(&fresh); {
	case err == nil:
		keep = min(keep, uint64(fresh))
	case !errors.Is(err, sql.ErrNoRows):
		return 0, err
	}
	if keep <= anchor.seq+1 {
		return 0, nil
	}
	to, err := verifyAuditPrefix(bt.tx, anchor, keep)
	if err != nil {
		return 0, err
	}
	var newest int64
	if err := q(`SELECT time FROM audit WHERE seq = ?`, int64(head.seq)).Scan(&newest); err != nil {
		return 0, err
	}
	if _, err := bt.exec(`INSERT INTO audit_prune_guard (one) VALUES (1)`); err != nil {
		return 0, err
	}
	res, err := bt.exec(`DELETE FROM audit WHERE seq > ? AND seq <= ?`, int64(anchor.seq), int64(to.seq))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := bt.exec(`DELETE FROM audit_prune_guard`); err != nil {
		return 0, err
	}
	if _, err := bt.exec(`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, auditAnchorKey, to.String()); err != nil {
		return 0, err
	}
	detail, err := json.Marshal(auditPruned{Through: to.seq, Hash: hex.EncodeToString(to.hash), Before: before.UTC()})
	if err != nil {
		return 0, err
	}
	at := fromNanos(newest)
	if before.After(at) {
		at = before
	}
	return int(n), appendAudit(bt, []AuditEntry{{Time: at, Actor: auditPruneActor, Action: auditPruneAction, Detail: string(detail)}})
}

// verifyAuditPrefix walks the chain from anchor through keep, the first
// entry to be kept, and returns the mark of the entry before keep: the new
// anchor.
func verifyAuditPrefix(tx *sql.Tx, anchor auditMark, keep uint64) (auditMark, error) {
	rows, err := tx.Query(`SELECT `+auditColumns+` FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq`,
		int64(anchor.seq), int64(keep))
	if err != nil {
		return auditMark{}, err
	}
	defer rows.Close()
	w := newAuditWalk(anchor)
	to := anchor
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return auditMark{}, err
		}
		if err := w.step(e); err != nil {
			return auditMark{}, err
		}
		if e.Seq < keep {
			to = auditMark{e.Seq, e.Hash}
		}
	}
	if err := rows.Err(); err != nil {
		return auditMark{}, err
	}
	if w.next != keep+1 {
		return auditMark{}, &AuditError{Seq: w.next, Reason: "entry missing before the retention cut"}
	}
	return to, nil
}

// auditPruned is the Detail of an audit.prune entry.
type auditPruned struct {
	Through uint64    `json:"through"` // the new anchor's seq
	Hash    string    `json:"hash"`    // and its hash, in hex
	Before  time.Time `json:"before"`  // the retention cut
}

// parseAuditPruned reads the anchor an audit.prune entry names.
func parseAuditPruned(detail string) (auditMark, error) {
	var p auditPruned
	if err := json.Unmarshal([]byte(detail), &p); err != nil {
		return auditMark{}, err
	}
	h, err := hex.DecodeString(p.Hash)
	if err != nil || len(h) != sha256.Size || p.Through == 0 {
		return auditMark{}, errors.New("bad anchor")
	}
	return auditMark{p.Through, h}, nil
}
