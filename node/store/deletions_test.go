package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// errHeld is greenOnly's refusal.
var errHeld = errors.New("held")

// greenOnly allows the deletion of a green subject only, as the
// retention pass does.
func greenOnly(status string, _ bool) error {
	if status != "green" {
		return errHeld
	}
	return nil
}

// deleteBatch deletes dels with greenOnly and returns the outcomes in
// the order reported: the id of a subject deleted (after telling
// deletedNow of it), "<id>:held" or "<id>:not found".
func deleteBatch(t *testing.T, db *DB, dels []SubjectDeletion, deletedNow func(id string)) []string {
	t.Helper()
	var got []string
	err := db.DeleteSubjects(t.Context(), t0, greenOnly, dels, func(d SubjectDeletion, _ *Revocation, err error) error {
		switch {
		case errors.Is(err, errHeld):
			got = append(got, d.ID+":held")
		case errors.Is(err, ErrNotFound):
			got = append(got, d.ID+":not found")
		case err != nil:
			t.Errorf("deleting %s: %v", d.ID, err)
		default:
			got = append(got, d.ID)
			deletedNow(d.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A batch of deletions (a retention pass) truncates keys.db's WAL once,
// not once per subject, and before the first deletion commits in
// node.db: by the time deleted hears of one, no copy of keys.db holds its
// key. Outcomes come in the order of the batch, a held or missing
// subject's with its refusal and nothing deleted.
func TestDeleteSubjectsTruncatesTheKeyStoreWALOnceForTheBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	const n = 6
	var dels []SubjectDeletion
	markers := map[string][]byte{}
	for i := range n {
		id := fmt.Sprintf("s%d", i)
		markers[id] = []byte(fmt.Sprintf("SEALED-KEY-MARKER-%s-0123456789", id))
		enrolWithKey(t, db, path, id, string(markers[id]))
		dels = append(dels, SubjectDeletion{ID: id, Audit: []AuditEntry{{Time: t0, Actor: "system", Action: "subject.retention_delete", Target: id}}})
	}
	if _, err := db.SetStatus(ctx, "s2", "red", t0); err != nil {
		t.Fatal(err)
	}
	dels = append(dels, SubjectDeletion{ID: "nobody"})
	before := db.KeysTruncations()
	got := deleteBatch(t, db, dels, func(id string) {
		if bytes.Contains(fileBytes(t, KeysPath(path)), markers[id]) {
			t.Errorf("%s reported deleted while keys.db or its WAL still holds its key", id)
		}
	})
	want := []string{"s0", "s1", "s2:held", "s3", "s4", "s5", "nobody:not found"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v; want %v", got, want)
	}
	if k := db.KeysTruncations() - before; k != 1 {
		t.Fatalf("keys.db's WAL truncated %d times for a batch of %d deletions; want once", k, n-1)
	}
	if db.KeysWALPending() {
		t.Fatal("KeysWALPending after the batch's truncation")
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 1 {
		t.Fatalf("%d subject rows left; want the held one", n)
	}
	if _, err := db.Subject(ctx, "s2"); err != nil {
		t.Fatalf("the held subject lost its record or key: %v", err)
	}
	if k := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.retention_delete'`); k != n-1 {
		t.Fatalf("%d deletions audited; want %d", k, n-1)
	}
}

// One deletion is a batch of one: a truncation each, as before.
func TestDeleteSubjectTruncatesOnce(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	enrolWithKey(t, db, path, "s1", "SEALED-KEY-MARKER-s1-0123456789")
	before := db.KeysTruncations()
	if _, err := db.DeleteSubject(t.Context(), "s1", t0); err != nil {
		t.Fatal(err)
	}
	if k := db.KeysTruncations() - before; k != 1 {
		t.Fatalf("%d truncations for one deletion; want 1", k)
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), []byte("SEALED-KEY-MARKER-s1")) {
		t.Fatal("the deleted subject's key survives in keys.db or its WAL")
	}
}

// A batch larger than MaxSubjectDeletions is refused with nothing done.
func TestDeleteSubjectsRefusesAnOversizedBatch(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	dels := make([]SubjectDeletion, MaxSubjectDeletions+1)
	for i := range dels {
		dels[i].ID = "s1"
	}
	err := db.DeleteSubjects(t.Context(), t0, nil, dels, func(SubjectDeletion, *Revocation, error) error {
		t.Fatal("a deletion of an oversized batch was tried")
		return nil
	})
	wantErr(t, err, ErrInvalid)
	if _, err := db.Subject(t.Context(), "s1"); err != nil {
		t.Fatalf("the subject of a refused batch lost its record or key: %v", err)
	}
}

// A batch with an erasure plan lacking its maker is refused before
// anything is shredded, as DeleteSubjectErasing refuses one: a retention
// pass calls DeleteSubjects directly, and a nil maker would otherwise be
// called only after the batch's keys were gone.
func TestDeleteSubjectsRefusesAnIncompleteErasurePlan(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	dels := []SubjectDeletion{{ID: "s1"}, {ID: "s2", Plan: &ErasurePlan{Action: "lookup.answer", Limit: 10}}}
	err := db.DeleteSubjects(t.Context(), t0, nil, dels, func(SubjectDeletion, *Revocation, error) error {
		t.Fatal("a deletion of a batch with an incomplete erasure plan was tried")
		return nil
	})
	wantErr(t, err, ErrInvalid)
	for _, id := range []string{"s1", "s2"} {
		if _, err := db.Subject(t.Context(), id); err != nil {
			t.Fatalf("%s, of a refused batch, lost its record or key: %v", id, err)
		}
	}
}

// A status set while a batch runs, before a subject's own deletion,
// holds that subject: the hold is judged again in the transaction that
// deletes the row, and the subject keeps its key and record. A batch of
// a thousand would otherwise delete a resident an operator had just set
// red, because they were green when the batch began.
func TestDeleteSubjectsJudgesEachHoldInTheDeletionsTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	db.deletionsPerTx = 2
	const marker = "SEALED-KEY-MARKER-s2-0123456789"
	var dels []SubjectDeletion
	for _, id := range []string{"s0", "s1", "s2", "s3"} {
		m := "SEALED-KEY-MARKER-" + id + "-0123456789"
		enrolWithKey(t, db, path, id, m)
		dels = append(dels, SubjectDeletion{ID: id})
	}
	// The operator sets s2 red once s0 and s1 are deleted, before the
	// transaction that deletes s2 begins: after the batch began, before
	// s2's turn.
	db.beforeDeletionTx = func(id string) {
		if id != "s2" {
			return
		}
		if _, err := db.SetStatus(ctx, "s2", "red", t0); err != nil {
			t.Error(err)
		}
	}
	got := deleteBatch(t, db, dels, func(string) {})
	if want := "[s0 s1 s2:held s3]"; fmt.Sprint(got) != want {
		t.Fatalf("outcomes %v; want %v", got, want)
	}
	s, err := db.Subject(ctx, "s2")
	if err != nil {
		t.Fatalf("the subject set red during the batch lost its record or key: %v", err)
	}
	if s.Status != "red" {
		t.Fatalf("the held subject's status is %q; want red", s.Status)
	}
	if !bytes.Contains(fileBytes(t, KeysPath(path)), []byte(marker)) {
		t.Fatal("the held subject's key was shredded")
	}
}

// A batch whose context ends part-way (the node shutting down during a
// retention pass) still purges keys.db's WAL of the keys it deleted
// before it reports them: the deletions committed stand, and deleted
// must not hear of one whose key a copy of keys.db-wal still holds.
func TestDeleteSubjectsPurgesTheWALOfWhatItDeletedWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	markers := map[string][]byte{}
	var dels []SubjectDeletion
	for _, id := range []string{"s0", "s1"} {
		markers[id] = []byte("SEALED-KEY-MARKER-" + id + "-0123456789")
		enrolWithKey(t, db, path, id, string(markers[id]))
		dels = append(dels, SubjectDeletion{ID: id})
	}
	db.beforeDeletion = func(id string) {
		if id == "s1" {
			cancel() // s0 is committed; s1 is never begun
		}
	}
	var reported []string
	err := db.DeleteSubjects(ctx, t0, greenOnly, dels, func(d SubjectDeletion, _ *Revocation, err error) error {
		if err != nil {
			return nil
		}
		reported = append(reported, d.ID)
		if bytes.Contains(fileBytes(t, KeysPath(path)), markers[d.ID]) {
			t.Errorf("%s reported deleted while keys.db or its WAL still holds its key", d.ID)
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteSubjects = %v; want the interrupted deletion's context.Canceled", err)
	}
	if fmt.Sprint(reported) != "[s0]" {
		t.Fatalf("deletions reported %v; want [s0]", reported)
	}
	if db.KeysWALPending() {
		t.Fatal("KeysWALPending: the WAL of the committed deletion was not truncated")
	}
}

// Deletions run beside issuance's group commits without either waiting
// for the other for ever: both take node.db's one writer connection, the
// deletion also the key store's inside it. (A version of the deletion
// that bound the writer's prepared statements, tried and not kept,
// deadlocked the two: it prepared under the statements' lock while
// waiting for the writer.)
func TestDeleteSubjectsBesideIssuanceFinishes(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	enrol(t, db, "issued")
	const n = 8
	var dels []SubjectDeletion
	for i := range n {
		id := fmt.Sprint("gone-", i)
		enrol(t, db, id)
		dels = append(dels, SubjectDeletion{ID: id})
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var issued atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := db.InsertCode(ctx, testCode(jti(fmt.Sprint("w", w), i), "issued")); err != nil && ctx.Err() == nil {
					t.Errorf("issuing beside the deletions: %v", err)
					return
				}
				issued.Add(1)
			}
		})
	}
	waitFor(t, "issuance under way", func() bool { return issued.Load() >= 20 })
	done := make(chan error, 1)
	deleted := 0
	go func() {
		done <- db.DeleteSubjects(ctx, t0, greenOnly, dels, func(_ SubjectDeletion, _ *Revocation, err error) error {
			if err == nil {
				deleted++
			}
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil || deleted != n {
			t.Fatalf("%d of %d deleted beside issuance: %v", deleted, n, err)
		}
	case <-time.After(10 * time.Second):
		// The writer is stuck: the store's Close in the test's cleanup
		// would never return, so the test cannot fail the usual way. A
		// panic outside the test's goroutine ends the process at once,
		// with every goroutine's stack.
		debug.SetTraceback("all")
		go func() { panic("a batch of 8 deletions beside issuance has not finished in 10 s: deadlocked") }()
		select {}
	}
	at := issued.Load()
	waitFor(t, "issuance after the deletions", func() bool { return issued.Load() > at })
	stop()
	wg.Wait()
}

// countTxs counts the transactions of db's DeleteSubjects batches.
func countTxs(db *DB) *atomic.Int64 {
	var n atomic.Int64
	db.beforeDeletionTx = func(string) { n.Add(1) }
	return &n
}

// Several subjects share one transaction, and each is still judged on
// its own in it: the held one keeps its record, status and key, the
// others go, keys and all, in the same transaction.
func TestDeleteSubjectsHoldsOneAndDeletesTheOthersInOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	db.deletionTxWork = time.Minute // one transaction, however slow the machine
	var dels []SubjectDeletion
	for _, id := range []string{"s0", "s1", "s2", "s3", "s4"} {
		enrolWithKey(t, db, path, id, "SEALED-KEY-MARKER-"+id+"-0123456789")
		dels = append(dels, SubjectDeletion{ID: id, Audit: []AuditEntry{{Time: t0, Actor: "system", Action: "subject.retention_delete", Target: id}}})
	}
	if _, err := db.SetStatus(ctx, "s2", "yellow", t0); err != nil {
		t.Fatal(err)
	}
	txs := countTxs(db)
	got := deleteBatch(t, db, dels, func(string) {})
	if want := "[s0 s1 s2:held s3 s4]"; fmt.Sprint(got) != want {
		t.Fatalf("outcomes %v; want %v", got, want)
	}
	if n := txs.Load(); n != 1 {
		t.Fatalf("%d transactions for a batch of 5; want 1", n)
	}
	keys := fileBytes(t, KeysPath(path))
	for _, id := range []string{"s0", "s1", "s3", "s4"} {
		if bytes.Contains(keys, []byte("SEALED-KEY-MARKER-"+id)) {
			t.Errorf("%s was deleted but keys.db or its WAL holds its key", id)
		}
	}
	if !bytes.Contains(keys, []byte("SEALED-KEY-MARKER-s2")) {
		t.Error("the held subject's key was shredded with the others'")
	}
	if s, err := db.Subject(ctx, "s2"); err != nil || s.Status != "yellow" {
		t.Fatalf("the held subject: %+v, %v; want its record, yellow", s, err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 1 {
		t.Fatalf("%d subject rows left; want the held one", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.retention_delete' AND target = 's2'`); n != 0 {
		t.Fatalf("the held subject's deletion audited %d times; want none", n)
	}
}

// A subject whose deletion fails part-way, its rows already deleted in
// the transaction, is rolled back alone: it keeps its record, key, codes
// and no audit entry of its deletion, while the subjects before and after
// it in the same transaction are deleted, their revocations numbered on
// as if it had not been tried. The batch reports each outcome and
// returns the failure. A transaction a subject stopped at the failure,
// and a failure that rolled back the whole transaction would have kept
// the others.
func TestDeleteSubjectsRollsBackAFailedSubjectAloneAndGoesOn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	db.deletionTxWork = time.Minute
	// The erasure plan's maker makes an erasure the outbox refuses, for
	// s1 only: the one subject with a lookup answered.
	plan := &ErasurePlan{Action: "lookup.answer", Limit: 10, Make: func(entries []AuditEntry, _ ErasuresPending) []Erasure {
		return []Erasure{{Asker: "450000", Subject: entries[0].Target, Created: t0, Expires: t0}}
	}}
	if err := db.AppendAudit(ctx, AuditEntry{Time: t0, Actor: "450000", Action: "lookup.answer", Target: "s1"}); err != nil {
		t.Fatal(err)
	}
	var dels []SubjectDeletion
	for i, id := range []string{"s0", "s1", "s2"} {
		enrolWithKey(t, db, path, id, "SEALED-KEY-MARKER-"+id+"-0123456789")
		insertCode(t, db, testCode(jti(id, i), id))
		dels = append(dels, SubjectDeletion{ID: id, Plan: plan, Audit: []AuditEntry{{Time: t0, Actor: "system", Action: "subject.retention_delete", Target: id}}})
	}
	txs := countTxs(db)
	var got []string
	var seqs []uint64
	err := db.DeleteSubjects(ctx, t0, greenOnly, dels, func(d SubjectDeletion, rev *Revocation, err error) error {
		switch {
		case err != nil:
			got = append(got, d.ID+":failed")
		case rev == nil:
			t.Errorf("%s deleted without revoking its live code", d.ID)
		default:
			got = append(got, d.ID)
			seqs = append(seqs, rev.Seq)
		}
		return nil
	})
	if err == nil {
		t.Fatal("DeleteSubjects = nil; want s1's failure")
	}
	if want := "[s0 s1:failed s2]"; fmt.Sprint(got) != want {
		t.Fatalf("outcomes %v; want %v", got, want)
	}
	if fmt.Sprint(seqs) != "[1 2]" {
		t.Errorf("revocation seqs %v; want [1 2]: s1's rolled back with it", seqs)
	}
	if n := txs.Load(); n != 1 {
		t.Fatalf("%d transactions; want 1: this test checks a failure inside one", n)
	}
	if _, err := db.Subject(ctx, "s1"); err != nil {
		t.Fatalf("the failed subject lost its record or key: %v", err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM codes WHERE subject_id = 's1' AND revoked = 0`); n != 1 {
		t.Errorf("the failed subject has %d live codes linked; want its 1", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.retention_delete'`); n != 2 {
		t.Errorf("%d deletions audited; want s0's and s2's", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 1 {
		t.Errorf("%d subject rows left; want the failed one", n)
	}
	keys := fileBytes(t, KeysPath(path))
	for id, kept := range map[string]bool{"s0": false, "s1": true, "s2": false} {
		if bytes.Contains(keys, []byte("SEALED-KEY-MARKER-"+id)) != kept {
			t.Errorf("%s's key in keys.db or its WAL: %v; want %v", id, !kept, kept)
		}
	}
}

// A transaction holds at most deletionsPerTx subjects, and takes none
// past the first once deletionTxWork has passed: issuance's commits,
// which wait for the same writer, wait behind a bounded transaction.
func TestDeleteSubjectsBoundsEachTransaction(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		perTx int
		work  time.Duration
		want  int64
	}{
		{"by count", 3, time.Minute, 3},
		{"by time", 64, 0, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, _ := openTestDB(t)
			db.deletionsPerTx, db.deletionTxWork = c.perTx, c.work
			var dels []SubjectDeletion
			for i := range 7 {
				id := fmt.Sprint("s", i)
				enrol(t, db, id)
				dels = append(dels, SubjectDeletion{ID: id})
			}
			txs := countTxs(db)
			if got := deleteBatch(t, db, dels, func(string) {}); len(got) != 7 {
				t.Fatalf("outcomes %v; want 7 deleted", got)
			}
			if n := txs.Load(); n != c.want {
				t.Fatalf("%d transactions for 7 deletions; want %d", n, c.want)
			}
			if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 0 {
				t.Fatalf("%d subjects left; want none", n)
			}
		})
	}
}

// Should node.db fail to commit a transaction after keys.db committed its
// shredding (a crash between the two commits leaves the same files),
// every subject of that transaction is reported failed and the batch
// stops there: those subjects have lost their keys, not their rows, and
// read as not found; the next batch deletes their rows, each audited
// once. The deletions of the transactions before it stand.
func TestDeleteSubjectsWhoseCommitFailsAfterTheShreddingAreFinishedByTheNext(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	db.deletionsPerTx, db.deletionTxWork = 2, time.Minute
	var dels []SubjectDeletion
	for _, id := range []string{"s0", "s1", "s2", "s3", "s4"} {
		enrolWithKey(t, db, path, id, "SEALED-KEY-MARKER-"+id+"-0123456789")
		dels = append(dels, SubjectDeletion{ID: id, Audit: []AuditEntry{{Time: t0, Actor: "system", Action: "subject.retention_delete", Target: id}}})
	}
	fault := errors.New("injected: node.db's commit failed")
	db.beforeDeletionTx = func(first string) {
		if first == "s2" {
			db.deletionCommitFault = fault
		}
	}
	var got []string
	err := db.DeleteSubjects(ctx, t0, greenOnly, dels, func(d SubjectDeletion, _ *Revocation, err error) error {
		switch {
		case errors.Is(err, fault):
			got = append(got, d.ID+":failed")
		case err != nil:
			t.Errorf("%s: %v", d.ID, err)
		default:
			got = append(got, d.ID)
		}
		return nil
	})
	if !errors.Is(err, fault) {
		t.Fatalf("DeleteSubjects = %v; want the injected failure", err)
	}
	if want := "[s0 s1 s2:failed s3:failed]"; fmt.Sprint(got) != want {
		t.Fatalf("outcomes %v; want %v (s4 never tried)", got, want)
	}
	keys := fileBytes(t, KeysPath(path))
	for id, kept := range map[string]bool{"s0": false, "s1": false, "s2": false, "s3": false, "s4": true} {
		if bytes.Contains(keys, []byte("SEALED-KEY-MARKER-"+id)) != kept {
			t.Errorf("%s's key in keys.db or its WAL: %v; want %v", id, !kept, kept)
		}
	}
	for _, id := range []string{"s2", "s3"} {
		if _, err := db.Subject(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s, its key shredded, its rows kept: Subject = %v; want ErrNotFound", id, err)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 3 {
		t.Fatalf("%d subject rows; want s2's, s3's and s4's", n)
	}

	db.deletionCommitFault, db.beforeDeletionTx = nil, nil
	if got := deleteBatch(t, db, dels[2:], func(string) {}); fmt.Sprint(got) != "[s2 s3 s4]" {
		t.Fatalf("the next batch: %v; want [s2 s3 s4]", got)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 0 {
		t.Fatalf("%d subject rows left; want none", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.retention_delete'`); n != 5 {
		t.Fatalf("%d deletions audited; want each of the 5 once", n)
	}
}
