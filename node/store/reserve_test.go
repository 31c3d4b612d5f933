package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// lingerForever makes db's writer hold a batch open for announced writes
// as long as a test could wait, so that only the announcements decide
// when it commits.
func lingerForever(db *DB) { db.batch.maxLinger = time.Hour }

// insertAsync inserts c from another goroutine and returns its result
// channel, once the writer has taken c into the batch it is filling.
func insertAsync(t *testing.T, db *DB, c Code) <-chan error {
	t.Helper()
	return insertTaken(t, db, 1, func() error { return db.InsertCode(context.Background(), c) })
}

// insertTaken runs insert in another goroutine and returns its result
// channel, once the writer has taken it: inflight writes are in the
// batch the writer is filling, none left in its queue.
func insertTaken(t *testing.T, db *DB, inflight int64, insert func() error) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- insert() }()
	testkit.WaitFor(t, 10*time.Second, time.Millisecond, "the writer takes the code", func() error {
		if db.batch.inflight.Load() != inflight || len(db.batch.queue) != 0 {
			return errors.New("not taken yet")
		}
		return nil
	})
	return done
}

// While issuance is concurrent — the last commit held two codes, one of
// them reserved — the writer holds the next batch of issuance open for
// the pace (maxLinger after that commit began): a code queued alone
// waits, and the next one joins its commit. Plain inserts are not paced.
func TestConcurrentIssuanceCommitsArePaced(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	lingerForever(db)
	ctx := context.Background()
	reserved := func(j string) func() error {
		res := db.Reserve()
		return func() error { return res.InsertCode(ctx, testCode(j, "s1")) }
	}
	second := reserved("two")
	first := insertTaken(t, db, 1, reserved("one"))
	if err := second(); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	commits := db.GroupCommits()
	third := insertTaken(t, db, 1, reserved("three"))
	fourth := insertTaken(t, db, 2, reserved("four"))
	select {
	case err := <-third:
		t.Fatalf("the third code committed (%v) before the pace", err)
	default:
	}
	db.Close() // commits what the writer holds
	for _, done := range []<-chan error{third, fourth} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := db.GroupCommits() - commits; got != 1 {
		t.Errorf("%d commits for two paced codes, want 1", got)
	}
}

// Plain inserts (the audit log's, a benchmark's) are never paced: after a
// commit of two, the next insert commits without waiting.
func TestPlainInsertsAreNotPaced(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	lingerForever(db)
	ctx := context.Background()
	res := db.Reserve()
	first := insertAsync(t, db, testCode("one", "s1"))
	second := insertTaken(t, db, 2, func() error { return db.InsertCode(ctx, testCode("two", "s1")) })
	res.Release()
	for _, done := range []<-chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	third := make(chan error, 1)
	go func() { third <- db.InsertCode(ctx, testCode("three", "s1")) }()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a plain insert waited over 10 s after a commit of two plain inserts")
	}
}

// An issuance that shared its commit with a plain write (the audit entry
// of a verification) was not concurrent issuance: the next code, issued
// alone, commits without waiting for the pace, and so does the audit
// append beside it.
func TestIssuanceBesideAnAuditAppendIsNotPaced(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	lingerForever(db)
	ctx := context.Background()
	audit := func(target string) func() error {
		return func() error {
			return db.AppendAudit(ctx, AuditEntry{Time: t0, Actor: "scanner:x", Action: "verify", Target: target, Detail: "{}"})
		}
	}
	res := db.Reserve()
	commits := db.GroupCommits()
	verified := insertTaken(t, db, 1, audit("v1")) // the writer lingers for res
	if err := res.InsertCode(ctx, testCode("issued", "s1")); err != nil {
		t.Fatal(err)
	}
	if err := <-verified; err != nil {
		t.Fatal(err)
	}
	if got := db.GroupCommits() - commits; got != 1 {
		t.Fatalf("%d commits for a code and an audit entry, want 1: this test checks nothing", got)
	}

	next := db.Reserve()
	alone := make(chan error, 1)
	go func() { alone <- next.InsertCode(ctx, testCode("alone", "s1")) }()
	select {
	case err := <-alone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone issuance waited over 10 s for the pace after a commit of one code and one audit entry")
	}
}

// A write announced with Reserve joins the batch the writer was filling
// when it was announced: the two codes share one commit, where without
// the announcement the first would have committed alone.
func TestReservedInsertJoinsTheBatchOpenWhenItWasAnnounced(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	lingerForever(db)
	res := db.Reserve()
	defer res.Release()
	commits := db.GroupCommits()
	first := insertAsync(t, db, testCode("first", "s1"))
	select {
	case err := <-first:
		t.Fatalf("the first code committed (%v) while a reserved write was still to come", err)
	default:
	}
	if err := res.InsertCode(context.Background(), testCode("second", "s1")); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := db.GroupCommits() - commits; got != 1 {
		t.Errorf("%d commits for two codes, want 1", got)
	}
	for _, j := range []string{"first", "second"} {
		if _, err := db.Code(context.Background(), j); err != nil {
			t.Errorf("code %s: %v", j, err)
		}
	}
}

// A reservation that ends without a write (the issuance failed before
// inserting) lets the writer commit at once instead of waiting out its
// linger.
func TestReleasedReservationLetsTheWriterCommit(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	lingerForever(db)
	res := db.Reserve()
	first := insertAsync(t, db, testCode("first", "s1"))
	res.Release()
	res.Release() // a second Release, as a deferred one after InsertCode, is a no-op
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer still waits for a released reservation")
	}
	if n := db.batch.announced.Load(); n != 0 {
		t.Errorf("%d writes still announced, want 0", n)
	}
}

// The writer waits for an announced write at most maxLinger: a
// reservation whose holder never writes nor releases (a stuck request)
// delays other writes by that, not forever.
func TestLingerForAnAnnouncedWriteIsBounded(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	res := db.Reserve()
	defer res.Release()
	// Not insertAsync: the writer commits the code within maxLinger, and
	// on a fast disk it can be answered before a poll sees it taken.
	alone := make(chan error, 1)
	go func() { alone <- db.InsertCode(context.Background(), testCode("alone", "s1")) }()
	select {
	case err := <-alone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the writer waited over 10 s for an announced write; it may wait %v", maxLinger)
	}
	if n := db.batch.announced.Load(); n != 1 {
		t.Errorf("%d writes announced, want the 1 still outstanding", n)
	}
}

// A reserved insert that the store refuses before queueing it (a missing
// field) still ends the announcement.
func TestRefusedReservedInsertEndsTheAnnouncement(t *testing.T) {
	db, _ := openTestDB(t)
	res := db.Reserve()
	c := testCode("bad", "s1")
	c.KID = ""
	wantErr(t, res.InsertCode(context.Background(), c), ErrInvalid)
	if n := db.batch.announced.Load(); n != 0 {
		t.Errorf("%d writes still announced after a refused insert, want 0", n)
	}
}
