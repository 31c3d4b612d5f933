package store

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// appendEntries appends n entries, one second apart from t0.
func appendEntries(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		e := AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "operator", Action: "status",
			Target: fmt.Sprintf("sha256:%02x", i), Detail: `{"status":"red"}`}
		if err := db.AppendAudit(t.Context(), e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
}

func TestAuditChainFromConcurrentAppendsVerifies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	if n, err := db.VerifyAudit(ctx); err != nil || n != 0 {
		t.Fatalf("VerifyAudit on empty log = %d, %v", n, err)
	}
	const workers, each = 16, 10
	fanOut(t, workers, each, func(w, i int) error {
		return db.AppendAudit(ctx, AuditEntry{Time: t0, Actor: fmt.Sprintf("scanner:%d", w), Action: "verify", Target: fmt.Sprint(i), Detail: "{}"})
	})
	if n, err := db.VerifyAudit(ctx); err != nil || n != workers*each {
		t.Fatalf("VerifyAudit = %d, %v; want %d, nil", n, err, workers*each)
	}
	es, err := db.AuditEntries(ctx, 0, 1000)
	if err != nil || len(es) != workers*each {
		t.Fatalf("AuditEntries = %d entries, %v", len(es), err)
	}
	prev := auditGenesis
	for i, e := range es {
		if e.Seq != uint64(i+1) || !bytes.Equal(e.Prev, prev) {
			t.Fatalf("entry %d: seq %d, prev %x; want seq %d linked to %x", i, e.Seq, e.Prev, i+1, prev)
		}
		prev = e.Hash
	}
	if rest, _ := db.AuditEntries(ctx, 150, 100); len(rest) != 10 || rest[0].Seq != 151 {
		t.Errorf("AuditEntries after 150 = %d entries", len(rest))
	}

	// Appends after a restart continue the same chain.
	db.Close()
	db = openAt(t, path)
	appendEntries(t, db, 1)
	if n, err := db.VerifyAudit(ctx); err != nil || n != workers*each+1 {
		t.Fatalf("VerifyAudit after restart = %d, %v", n, err)
	}
}

func TestAppendAuditBatchChainsEntriesInOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	appendEntries(t, db, 1)
	batch := []AuditEntry{
		{Time: t0, Actor: "system", Action: "key.rotate"},
		{Time: t0, Actor: "scanner:sc1", Action: "verify", Target: "h1"},
		{Time: t0, Actor: "scanner:sc1", Action: "verify", Target: "h2", Seq: 99, Prev: []byte("ignored")},
	}
	if err := db.AppendAuditBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditEntries(ctx, 1, 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("AuditEntries = %d, %v", len(es), err)
	}
	for i, e := range es {
		if e.Seq != uint64(i+2) || e.Action != batch[i].Action || e.Target != batch[i].Target {
			t.Errorf("entry %d = seq %d %s %s, want seq %d %s %s", i, e.Seq, e.Action, e.Target, i+2, batch[i].Action, batch[i].Target)
		}
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 4 {
		t.Fatalf("VerifyAudit = %d, %v; want 4", n, err)
	}
	wantErr(t, db.AppendAuditBatch(ctx, []AuditEntry{{Time: t0, Actor: "x", Action: "y"}, {Actor: "x"}}), ErrInvalid)
}

func TestAppendAuditBatchFailingPartWayWritesNothingAndSparesItsBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	appendEntries(t, db, 2)
	// A row planted at seq 4 makes the batch's second entry collide.
	if _, err := db.w.Exec(`INSERT INTO audit (seq, time, actor, action, target, detail, prev, hash)
		VALUES (4, 1, 'x', 'y', '', '', x'00', x'00')`); err != nil {
		t.Fatal(err)
	}

	release := holdWriter(t, db)
	auditErr, codeErr := make(chan error, 1), make(chan error, 1)
	go func() {
		auditErr <- db.AppendAuditBatch(ctx, []AuditEntry{{Time: t0, Actor: "a", Action: "b"}, {Time: t0, Actor: "a", Action: "c"}})
	}()
	go func() { codeErr <- db.InsertCode(ctx, testCode("same-batch", "s1")) }()
	waitFor(t, "both calls queued", func() bool { return db.WriteBacklog() == 2 })
	release()

	wantErr(t, <-auditErr, ErrConflict)
	if err := <-codeErr; err != nil {
		t.Fatalf("InsertCode in the same batch: %v", err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE seq = 3`); n != 0 {
		t.Error("the failed batch's first entry was kept")
	}
	if v, err := db.GetMeta(ctx, auditHeadKey); err != nil || v[:2] != "2:" {
		t.Errorf("audit head = %q, %v; want it still at seq 2", v, err)
	}
}

func TestAuditRowsRefuseUpdateAndDeleteThroughSQL(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	appendEntries(t, db, 2)
	for _, q := range []string{`UPDATE audit SET detail = '{}' WHERE seq = 1`, `DELETE FROM audit WHERE seq = 2`} {
		if _, err := db.w.Exec(q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	t.Parallel()
	// One log of 8 good entries, closed cleanly (so one file), copied
	// afresh for each attack.
	const entries = 8
	db, pristine := openTestDB(t)
	appendEntries(t, db, entries)
	es, err := db.AuditEntries(t.Context(), 0, entries)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := db.VerifyAudit(t.Context()); err != nil || n != entries {
		t.Fatalf("VerifyAudit before any attack = %d, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		attack  func(t *testing.T, raw *sql.DB, es []AuditEntry)
		wantSeq uint64
	}{
		{"edit a row", func(t *testing.T, raw *sql.DB, _ []AuditEntry) {
			mustExec(t, raw, `UPDATE audit SET detail = '{"status":"green"}' WHERE seq = 4`)
		}, 4},
		{"edit a row's time", func(t *testing.T, raw *sql.DB, _ []AuditEntry) {
			mustExec(t, raw, `UPDATE audit SET time = time + 1 WHERE seq = 6`)
		}, 6},
		{"edit a row and recompute its hash", func(t *testing.T, raw *sql.DB, es []AuditEntry) {
			e := es[3]
			e.Actor = "system"
			if _, err := raw.Exec(`UPDATE audit SET actor = ?, hash = ? WHERE seq = 4`, e.Actor, auditHash(e)); err != nil {
				t.Fatal(err)
			}
		}, 5},
		{"edit the last row and recompute its hash", func(t *testing.T, raw *sql.DB, es []AuditEntry) {
			e := es[entries-1]
			e.Detail = "{}"
			if _, err := raw.Exec(`UPDATE audit SET detail = ?, hash = ? WHERE seq = ?`, e.Detail, auditHash(e), entries); err != nil {
				t.Fatal(err)
			}
		}, entries},
		{"delete a middle row", func(t *testing.T, raw *sql.DB, _ []AuditEntry) {
			mustExec(t, raw, `DELETE FROM audit WHERE seq = 4`)
		}, 4},
		{"swap two rows", func(t *testing.T, raw *sql.DB, _ []AuditEntry) {
			mustExec(t, raw,
				`UPDATE audit SET seq = 1000 WHERE seq = 3`,
				`UPDATE audit SET seq = 3 WHERE seq = 4`,
				`UPDATE audit SET seq = 4 WHERE seq = 1000`)
		}, 3},
		{"delete the last row", func(t *testing.T, raw *sql.DB, _ []AuditEntry) {
			mustExec(t, raw, `DELETE FROM audit WHERE seq = 8`)
		}, 8},
		{"delete every row", func(t *testing.T, raw *sql.DB, _ []AuditEntry) {
			mustExec(t, raw, `DELETE FROM audit`)
		}, 1},
		{"append a forged row", func(t *testing.T, raw *sql.DB, es []AuditEntry) {
			e := AuditEntry{Seq: entries + 1, Time: t0, Actor: "operator", Action: "delete", Prev: es[entries-1].Hash}
			e.Hash = auditHash(e)
			if _, err := raw.Exec(`INSERT INTO audit (seq, time, actor, action, target, detail, prev, hash)
				VALUES (?, ?, ?, ?, '', '', ?, ?)`, e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.Prev, e.Hash); err != nil {
				t.Fatal(err)
			}
		}, entries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "node.db")
			copyFile(t, pristine, path)
			raw := rawDB(t, path)
			mustExec(t, raw, `DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`)
			tc.attack(t, raw, es)
			raw.Close()

			db := openAt(t, path)
			n, err := db.VerifyAudit(ctx)
			var ae *AuditError
			if !errors.As(err, &ae) || !errors.Is(err, ErrAuditBroken) {
				t.Fatalf("VerifyAudit = %d, %v; want an *AuditError", n, err)
			}
			if ae.Seq != tc.wantSeq || n != int(tc.wantSeq)-1 {
				t.Fatalf("VerifyAudit = %d, %v; want failure at seq %d after %d good entries", n, err, tc.wantSeq, tc.wantSeq-1)
			}
		})
	}
}
