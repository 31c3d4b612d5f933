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
	const marker = "SEALED-KEY-MARKER-s2-0123456789"
	var dels []SubjectDeletion
	for _, id := range []string{"s0", "s1", "s2", "s3"} {
		m := "SEALED-KEY-MARKER-" + id + "-0123456789"
		enrolWithKey(t, db, path, id, m)
		dels = append(dels, SubjectDeletion{ID: id})
	}
	// The operator sets s2 red while s1 is being deleted: after the batch
	// began, before s2's turn.
	db.beforeDeletion = func(id string) {
		if id != "s1" {
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
