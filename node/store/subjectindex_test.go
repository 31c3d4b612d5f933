package store

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func TestSecondSubjectWithTheSameIndexIsRefusedNamingTheFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	idx := bytes.Repeat([]byte{0xA5}, 32)
	s1, s2 := testSubject("s1"), testSubject("s2")
	s1.IDIndex, s2.IDIndex = idx, idx
	if err := db.CreateSubject(ctx, s1, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	err := db.CreateSubject(ctx, s2, testConsent(), Token{Hash: []byte("tok-s2")})
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.SubjectID != "s1" || !errors.Is(err, ErrConflict) {
		t.Fatalf("second enrolment: %v, want a DuplicateError naming s1", err)
	}
	if n := count(t, db, `SELECT count(*) FROM subjects`); n != 1 {
		t.Fatalf("%d subjects after a refused duplicate", n)
	}
	if _, err := db.Subject(ctx, "s2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused subject left a key or row: %v", err)
	}
	// Subjects without an ID number (not collected) have no index and do
	// not collide.
	for _, id := range []string{"n1", "n2"} {
		if err := db.CreateSubject(ctx, testSubject(id), testConsent(), Token{}); err != nil {
			t.Fatalf("subject without an index: %v", err)
		}
	}
}

func TestConcurrentEnrolmentsOfOneIndexLeaveOneSubject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	idx := bytes.Repeat([]byte{0x5A}, 32)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			s := testSubject(jti("s", i))
			s.IDIndex = idx
			errs[i] = db.CreateSubject(ctx, s, testConsent(), Token{})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrConflict) {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 || count(t, db, `SELECT count(*) FROM subjects`) != 1 {
		t.Fatalf("%d enrolments succeeded, want 1", ok)
	}
}

func TestDeletingASubjectDeletesItsIndexValueFromTheFiles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	s := testSubject("s1")
	s.IDIndex = []byte("INDEX-VALUE-MARKER-0123456789abc")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fileBytes(t, KeysPath(path)), s.IDIndex) {
		t.Fatal("keys.db does not hold the index value: this test checks nothing")
	}
	if bytes.Contains(fileBytes(t, path), s.IDIndex) {
		t.Fatal("node.db holds the index value")
	}
	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), s.IDIndex) {
		t.Fatal("the deleted subject's index value survives in keys.db or its WAL")
	}
	again := testSubject("s2")
	again.IDIndex = s.IDIndex
	if err := db.CreateSubject(ctx, again, testConsent(), Token{}); err != nil {
		t.Fatalf("the number of a deleted subject cannot be enrolled again: %v", err)
	}
}

func TestBackfillListsSubjectsWithoutIndexAndSetsIt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, id := range []string{"s1", "s2", "s3"} {
		enrol(t, db, id)
	}
	noNumber := testSubject("s4")
	noNumber.IDNumberCT = nil
	if err := db.CreateSubject(ctx, noNumber, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if err := db.shredSubjectKeys(ctx, []string{"s3"}); err != nil { // shredded: gone already
		t.Fatal(err)
	}
	subs, last, err := db.UnindexedSubjects(ctx, "", 1)
	if err != nil || len(subs) != 1 || subs[0].ID != "s1" || last != "s1" || len(subs[0].DataKey) == 0 {
		t.Fatalf("first page: %+v %q %v", subs, last, err)
	}
	if err := db.SetSubjectIndex(ctx, "s1", []byte("idx-1")); err != nil {
		t.Fatal(err)
	}
	var dup *DuplicateError
	if err := db.SetSubjectIndex(ctx, "s2", []byte("idx-1")); !errors.As(err, &dup) || dup.SubjectID != "s1" {
		t.Fatalf("a duplicate in the backfill: %v", err)
	}
	wantErr(t, db.SetSubjectIndex(ctx, "s3", []byte("idx-3")), ErrNotFound)
	subs, last, err = db.UnindexedSubjects(ctx, "", 10)
	if err != nil || len(subs) != 1 || subs[0].ID != "s2" || last != "s3" {
		t.Fatalf("after indexing s1: %+v %q %v", subs, last, err)
	}
	if subs, last, err = db.UnindexedSubjects(ctx, last, 10); err != nil || len(subs) != 0 || last != "" {
		t.Fatalf("past the end: %+v %q %v", subs, last, err)
	}
}

func TestSubjectIndexKeyIsStoredOnceAndGoesAtSunset(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	first, complete, err := db.SubjectIndexKey(ctx, []byte("SEALED-INDEX-KEY-ONE"))
	if err != nil || string(first) != "SEALED-INDEX-KEY-ONE" || complete {
		t.Fatalf("first key: %q %v %v", first, complete, err)
	}
	if err := db.MarkSubjectIndexComplete(ctx); err != nil {
		t.Fatal(err)
	}
	got, complete, err := db.SubjectIndexKey(ctx, []byte("SEALED-INDEX-KEY-TWO"))
	if err != nil || !bytes.Equal(got, first) || !complete {
		t.Fatalf("second call replaced the key or lost completeness: %q %v %v", got, complete, err)
	}
	s := testSubject("s1")
	s.IDIndex = []byte("SUNSET-INDEX-MARKER-0123456789")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Sunset(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if b := fileBytes(t, KeysPath(path)); bytes.Contains(b, s.IDIndex) || bytes.Contains(b, first) {
		t.Fatal("an index value or the index key survives sunset in keys.db")
	}
}
