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
			mustCopy(t, pristine, path)
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

// pruneAt prunes every entry timed before t0+cut, failing the test on error.
func pruneAt(t *testing.T, db *DB, cut time.Duration) int {
	t.Helper()
	n, err := db.PruneAudit(t.Context(), t0.Add(cut))
	if err != nil {
		t.Fatalf("PruneAudit: %v", err)
	}
	return n
}

// wantVerified checks that VerifyAudit passes with n entries.
func wantVerified(t *testing.T, db *DB, n int) {
	t.Helper()
	if got, err := db.VerifyAudit(t.Context()); err != nil || got != n {
		t.Fatalf("VerifyAudit = %d, %v; want %d, nil", got, err, n)
	}
}

func TestPruneAuditDeletesDueEntriesAndTheRestVerifiesFromTheAnchor(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	appendEntries(t, db, 8) // t0 .. t0+7s
	es, err := db.AuditEntries(ctx, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if n := pruneAt(t, db, 5*time.Second); n != 5 {
		t.Fatalf("PruneAudit deleted %d, want 5 (seq 1-5)", n)
	}
	wantVerified(t, db, 4) // seq 6-8 and the audit.prune entry
	if v, err := db.GetMeta(ctx, auditAnchorKey); err != nil || v != (auditMark{5, es[4].Hash}).String() {
		t.Errorf("anchor = %q, %v; want seq 5 and its hash", v, err)
	}
	rest, err := db.AuditEntries(ctx, 0, 10)
	if err != nil || len(rest) != 4 || rest[0].Seq != 6 || !bytes.Equal(rest[0].Prev, es[4].Hash) {
		t.Fatalf("entries after prune = %+v, %v", rest, err)
	}
	p := rest[3]
	if p.Seq != 9 || p.Actor != auditPruneActor || p.Action != auditPruneAction || !p.Time.Equal(t0.Add(7*time.Second)) {
		t.Errorf("prune entry = %+v; want seq 9 audit.prune timed at the newest entry", p)
	}
	if m, err := parseAuditPruned(p.Detail); err != nil || m.seq != 5 || !bytes.Equal(m.hash, es[4].Hash) {
		t.Errorf("prune entry names %+v, %v; want the anchor", m, err)
	}
	// Nothing more is due: a second pass deletes nothing and records nothing.
	if n := pruneAt(t, db, 5*time.Second); n != 0 {
		t.Errorf("second PruneAudit deleted %d", n)
	}
	wantVerified(t, db, 4)
}

func TestPruneAuditKeepsTheNewestEntry(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	if n := pruneAt(t, db, time.Hour); n != 0 {
		t.Fatalf("PruneAudit of an empty log deleted %d", n)
	}
	appendEntries(t, db, 1)
	if n := pruneAt(t, db, time.Hour); n != 0 {
		t.Fatalf("PruneAudit of a one-entry log deleted %d", n)
	}
	appendEntries(t, db, 2) // seq 2 and 3, at t0 and t0+1s
	if n := pruneAt(t, db, time.Hour); n != 2 {
		t.Fatalf("PruneAudit deleted %d, want 2", n)
	}
	es, err := db.AuditEntries(t.Context(), 0, 10)
	if err != nil || len(es) != 2 || es[0].Seq != 3 || es[1].Action != auditPruneAction || !es[1].Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("entries = %+v, %v; want seq 3 kept and the prune entry, timed at the cut", es, err)
	}
	// Later, everything is due: only the newest (the last prune entry) stays.
	if n := pruneAt(t, db, 2*time.Hour); n != 1 {
		t.Fatalf("second PruneAudit deleted %d, want 1", n)
	}
	wantVerified(t, db, 2)
}

func TestPruneAuditStopsAtTheFirstEntryNotYetDue(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	var batch []AuditEntry
	for _, s := range []int{0, 10, 1, 2} { // seq 2 is timed out of order
		batch = append(batch, AuditEntry{Time: t0.Add(time.Duration(s) * time.Second), Actor: "system", Action: "key.rotate"})
	}
	if err := db.AppendAuditBatch(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	if n := pruneAt(t, db, 5*time.Second); n != 1 {
		t.Fatalf("PruneAudit deleted %d, want only seq 1: the chain is cut at a prefix", n)
	}
	wantVerified(t, db, 4)
}

func TestPruneAuditRefusesAChainThatDoesNotVerify(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	appendEntries(t, db, 4)
	raw := rawDB(t, path)
	mustExec(t, raw, `DROP TRIGGER audit_no_update`, `UPDATE audit SET detail = '{}' WHERE seq = 2`)
	n, err := db.PruneAudit(t.Context(), t0.Add(time.Hour))
	var ae *AuditError
	if !errors.As(err, &ae) || ae.Seq != 2 || n != 0 {
		t.Fatalf("PruneAudit over an edited entry = %d, %v; want an *AuditError at seq 2", n, err)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM audit`); got != 4 {
		t.Errorf("%d entries left, want all 4 kept as evidence", got)
	}
	if _, err := db.GetMeta(t.Context(), auditAnchorKey); !errors.Is(err, ErrNotFound) {
		t.Errorf("anchor after a refused prune: %v", err)
	}
}

func TestAuditDeleteIsRefusedExceptThroughPruneAudit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	appendEntries(t, db, 4)
	pruneAt(t, db, 2*time.Second)
	for _, q := range []string{`DELETE FROM audit WHERE seq = 3`, `DELETE FROM audit`} {
		if _, err := db.w.Exec(q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	if got := count(t, db, `SELECT COUNT(*) FROM audit_prune_guard`); got != 0 {
		t.Errorf("PruneAudit left its guard behind (%d rows)", got)
	}
	// Even with the guard set, the newest entry cannot go.
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // the test only probes the trigger
	if _, err := tx.Exec(`INSERT INTO audit_prune_guard (one) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)`); err == nil {
		t.Error("deleting the newest entry with the guard set: accepted")
	}
	tx.Rollback() //nolint:errcheck // release the writer
	wantErr(t, db.SetMeta(ctx, auditAnchorKey, "0:00"), ErrInvalid)
	wantErr(t, db.AppendAudit(ctx, AuditEntry{Time: t0, Actor: auditPruneActor, Action: auditPruneAction,
		Detail: `{"through":1,"hash":"00"}`}), ErrInvalid)
	wantVerified(t, db, 3) // seq 3, 4 and the prune entry
}

func TestAppendAfterPruneChainsOntoTheHead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	appendEntries(t, db, 5)
	pruneAt(t, db, 3*time.Second) // seq 1-3 go; 4, 5 and the prune entry (6) stay
	appendEntries(t, db, 2)
	wantVerified(t, db, 5)
	es, err := db.AuditEntries(ctx, 5, 10)
	if err != nil || len(es) != 3 || es[1].Seq != 7 || !bytes.Equal(es[1].Prev, es[0].Hash) {
		t.Fatalf("entries after the prune entry = %+v, %v", es, err)
	}
	// A restart and a second prune continue the same chain.
	db.Close()
	db = openAt(t, path)
	if n := pruneAt(t, db, time.Hour); n != 4 {
		t.Fatalf("second PruneAudit deleted %d, want 4 (seq 4-7)", n)
	}
	appendEntries(t, db, 1)
	wantVerified(t, db, 3) // seq 8, the second prune entry (9) and 10
}

func TestVerifyAuditDetectsTamperingAfterPrune(t *testing.T) {
	t.Parallel()
	// 8 entries, seq 1-3 pruned (anchor at 3), the prune entry at seq 9.
	db, pristine := openTestDB(t)
	appendEntries(t, db, 8)
	es, err := db.AuditEntries(t.Context(), 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	pruneAt(t, db, 3*time.Second)
	wantVerified(t, db, 6)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	setAnchor := func(t *testing.T, raw *sql.DB, m auditMark) {
		t.Helper()
		if _, err := raw.Exec(`UPDATE meta SET value = ? WHERE key = ?`, m.String(), auditAnchorKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		attack  func(t *testing.T, raw *sql.DB)
		wantSeq uint64
		wantN   int
	}{
		{"delete the oldest rows without moving the anchor", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw, `DELETE FROM audit WHERE seq IN (4, 5)`)
		}, 4, 0},
		{"delete the oldest rows and move the anchor to match", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw, `DELETE FROM audit WHERE seq IN (4, 5)`)
			setAnchor(t, raw, auditMark{5, es[4].Hash})
		}, 6, 0},
		{"move the anchor past the first row", func(t *testing.T, raw *sql.DB) {
			setAnchor(t, raw, auditMark{5, es[4].Hash})
		}, 4, 0},
		{"change the anchor's hash", func(t *testing.T, raw *sql.DB) {
			setAnchor(t, raw, auditMark{3, es[1].Hash})
		}, 4, 0},
		{"remove the anchor", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw, `DELETE FROM meta WHERE key = '`+auditAnchorKey+`'`)
		}, 1, 0},
		{"edit a row", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw, `UPDATE audit SET detail = '{}' WHERE seq = 6`)
		}, 6, 2},
		{"delete a middle row", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw, `DELETE FROM audit WHERE seq = 6`)
		}, 6, 2},
		{"swap two rows", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw,
				`UPDATE audit SET seq = 1000 WHERE seq = 5`,
				`UPDATE audit SET seq = 5 WHERE seq = 6`,
				`UPDATE audit SET seq = 6 WHERE seq = 1000`)
		}, 5, 1},
		{"delete the last row", func(t *testing.T, raw *sql.DB) {
			mustExec(t, raw, `DELETE FROM audit WHERE seq = 9`)
		}, 9, 5},
		{"restore a pruned row", func(t *testing.T, raw *sql.DB) {
			e := es[2]
			if _, err := raw.Exec(`INSERT INTO audit (seq, time, actor, action, target, detail, prev, hash)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.Target, e.Detail, e.Prev, e.Hash); err != nil {
				t.Fatal(err)
			}
		}, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "node.db")
			mustCopy(t, pristine, path)
			raw := rawDB(t, path)
			mustExec(t, raw, `DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`)
			tc.attack(t, raw)
			raw.Close()

			n, err := openAt(t, path).VerifyAudit(t.Context())
			var ae *AuditError
			if !errors.As(err, &ae) || !errors.Is(err, ErrAuditBroken) {
				t.Fatalf("VerifyAudit = %d, %v; want an *AuditError", n, err)
			}
			if ae.Seq != tc.wantSeq || n != tc.wantN {
				t.Fatalf("VerifyAudit = %d, %v; want failure at seq %d after %d good entries", n, err, tc.wantSeq, tc.wantN)
			}
		})
	}
}

// A batch of more entries than one INSERT writes (whole groups, then
// single rows) is chained in order and verifies.
func TestAppendAuditBatchOverOneInsertGroupChainsInOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	appendEntries(t, db, 1)
	n := 2*auditRowsPerInsert + 7
	batch := make([]AuditEntry, n)
	for i := range batch {
		batch[i] = AuditEntry{Time: t0, Actor: "operator", Action: "subject.status", Target: fmt.Sprintf("s-%03d", i), Detail: "{}"}
	}
	if err := db.AppendAuditBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditEntries(ctx, 1, n+10)
	if err != nil || len(es) != n {
		t.Fatalf("AuditEntries = %d, %v; want %d", len(es), err, n)
	}
	for i, e := range es {
		if e.Seq != uint64(i+2) || e.Target != batch[i].Target {
			t.Errorf("entry %d = seq %d %s, want seq %d %s", i, e.Seq, e.Target, i+2, batch[i].Target)
		}
	}
	if got, err := db.VerifyAudit(ctx); err != nil || got != n+1 {
		t.Fatalf("VerifyAudit = %d, %v; want %d", got, err, n+1)
	}
}
