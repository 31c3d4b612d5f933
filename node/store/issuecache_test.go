package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// cachedStatus reads id for issuance twice and returns the status the
// second read saw and whether it was served by the cache.
func cachedStatus(t *testing.T, db *DB, id string) (status string, hit bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.SubjectForIssue(ctx, id, t0, 0); err != nil {
		t.Fatalf("SubjectForIssue(%s): %v", id, err)
	}
	hits0, _ := db.IssueCacheStats()
	s, err := db.SubjectForIssue(ctx, id, t0, 0)
	if err != nil {
		t.Fatalf("SubjectForIssue(%s): %v", id, err)
	}
	hits, _ := db.IssueCacheStats()
	return s.Status, hits > hits0
}

// Every way a status changes drops the subject's cached issuance read once
// it has committed, so the next code is signed with the new status, not
// signed, refused by InsertCode and signed again.
func TestIssueCacheDropsASubjectWhoseStatusChanged(t *testing.T) {
	ctx := context.Background()
	for _, change := range []struct {
		name string
		set  func(db *DB, id string) error
	}{
		{"SetStatus", func(db *DB, id string) error {
			_, err := db.SetStatus(ctx, id, "yellow", t0)
			return err
		}},
		{"SetStatusBatch", func(db *DB, id string) error {
			out, _, err := db.SetStatusBatch(ctx, []StatusChange{{SubjectID: id, Status: "yellow",
				Audit: AuditEntry{Time: t0, Actor: "system", Action: "status"}}}, t0)
			if err == nil && out[0] != StatusApplied {
				err = fmt.Errorf("outcome %v", out[0])
			}
			return err
		}},
		{"ResolveAppeal", func(db *DB, id string) error {
			if err := db.CreateAppeal(ctx, Appeal{ID: "a-" + id, SubjectID: id, Created: t0, MessageCT: []byte("m")}, 3); err != nil {
				return err
			}
			_, err := db.ResolveAppeal(ctx, "a-"+id, resolution(t, db, "a-"+id, "upheld", []byte("n"), "yellow", t0))
			return err
		}},
	} {
		t.Run(change.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			enrol(t, db, "s1")
			if status, hit := cachedStatus(t, db, "s1"); !hit || status != "green" {
				t.Fatalf("before the change: %s, cached %v; want green from the cache", status, hit)
			}
			if err := change.set(db, "s1"); err != nil {
				t.Fatal(err)
			}
			s, err := db.SubjectForIssue(ctx, "s1", t0, 0)
			if err != nil || s.Status != "yellow" {
				t.Errorf("after the change: %+v, %v; want yellow", s, err)
			}
		})
	}
}

// A deletion leaves no entry (with its sealed data key) in the cache, and
// issuance then finds no subject.
func TestIssueCacheForgetsADeletedSubject(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	cachedStatus(t, db, "s1")
	cachedStatus(t, db, "s2")
	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if n := db.issue.len(); n != 1 {
		t.Errorf("%d cached subjects after deleting one of two, want 1", n)
	}
	if _, err := db.SubjectForIssue(ctx, "s1", t0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted subject: %v, want ErrNotFound", err)
	}
	if _, err := db.Sunset(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if n := db.issue.len(); n != 0 {
		t.Errorf("%d cached subjects after the sunset, want none", n)
	}
}

// A cached read may be stale when the row changed by a path that does not
// tell the cache (here, a raw UPDATE); InsertCode still refuses the code
// signed with it, and the refusal drops the entry. A cached read skips the
// live-code count, which InsertCode enforces; the read after that
// refusal counts again and refuses before signing.
func TestRefusedInsertDropsTheCachedSubject(t *testing.T) {
	db, path := openTestDB(t)
	ctx := context.Background()
	enrol(t, db, "s1")
	cachedStatus(t, db, "s1")
	mustExec(t, rawDB(t, path), `UPDATE subjects SET status = 'red' WHERE id = 's1'`)
	if status, hit := cachedStatus(t, db, "s1"); !hit || status != "green" {
		t.Fatalf("stale entry: %s, cached %v; this test checks nothing", status, hit)
	}
	if err := db.InsertCode(ctx, testCode("j-stale", "s1")); !errors.Is(err, ErrStatusChanged) {
		t.Fatalf("code signed with the stale status: %v, want ErrStatusChanged", err)
	}
	if s, err := db.SubjectForIssue(ctx, "s1", t0, 0); err != nil || s.Status != "red" {
		t.Fatalf("after the refusal: %+v, %v; want red read again", s, err)
	}

	const maxLive = 2
	enrol(t, db, "s2")
	if _, err := db.SubjectForIssue(ctx, "s2", t0, maxLive); err != nil {
		t.Fatal(err)
	}
	for i := range maxLive {
		c := testCode(jti("s2-", i), "s2")
		c.MaxLive = maxLive
		insertCode(t, db, c)
	}
	if _, err := db.SubjectForIssue(ctx, "s2", t0, maxLive); err != nil {
		t.Fatalf("cached read at the bound: %v; the cache does not count", err)
	}
	over := testCode("s2-over", "s2")
	over.MaxLive = maxLive
	if err := db.InsertCode(ctx, over); !errors.Is(err, ErrTooManyCodes) {
		t.Fatalf("code past the bound: %v, want ErrTooManyCodes", err)
	}
	for range 2 {
		if _, err := db.SubjectForIssue(ctx, "s2", t0, maxLive); !errors.Is(err, ErrTooManyCodes) {
			t.Errorf("read after the refusal: %v, want ErrTooManyCodes before signing", err)
		}
	}
}

// A read that began before a change committed does not fill the cache
// after it; the cache holds at most its bound, and an entry serves for
// issueCacheMaxAge at most.
func TestIssueCacheGenerationsBoundAndAge(t *testing.T) {
	now := t0
	c := newIssueCache(3)
	c.now = func() time.Time { return now }
	s := func(id string) Subject {
		return Subject{ID: id, Status: "green", MaskedCT: []byte("m"), DataKey: []byte("k")}
	}

	gen := c.generation()
	c.forget("other")
	c.fill(s("raced"), gen)
	if _, ok := c.get("raced"); ok {
		t.Error("a read begun before a forget filled the cache")
	}
	for i := range 10 {
		c.fill(s(fmt.Sprint("s", i)), c.generation())
		if n := c.len(); n > 3 {
			t.Fatalf("%d entries, bound 3", n)
		}
	}
	if _, ok := c.get("s9"); !ok {
		t.Error("the latest fill was not kept")
	}
	now = now.Add(issueCacheMaxAge + time.Second)
	if _, ok := c.get("s9"); ok {
		t.Error("an entry older than issueCacheMaxAge was served")
	}
	c.resize(0)
	c.fill(s("off"), c.generation())
	if n := c.len(); n != 0 {
		t.Errorf("a disabled cache holds %d entries", n)
	}
}

// An entry leaves memory once it is issueCacheMaxAge old even if its
// resident never asks again (no read of it to find it stale): a sweep
// drops it, and only it; the sweep stops once the cache is empty, and
// Close empties the cache.
func TestIssueCacheSweepsIdleEntries(t *testing.T) {
	var clock atomic.Int64 // the sweep reads the time on its own goroutine
	clock.Store(t0.UnixNano())
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	c := newIssueCache(8)
	c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	c.sweepEvery = time.Millisecond
	s := func(id string) Subject {
		return Subject{ID: id, Status: "green", MaskedCT: []byte("m"), DataKey: []byte("k")}
	}
	has := func(id string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.entries[id]
		return ok
	}

	c.fill(s("idle"), c.generation())
	advance(issueCacheMaxAge / 2)
	c.fill(s("young"), c.generation())
	advance(issueCacheMaxAge/2 + time.Second)
	waitFor(t, "the idle entry is swept", func() bool { return !has("idle") })
	if !has("young") {
		t.Fatal("an entry half its maximum age was swept")
	}
	advance(issueCacheMaxAge)
	waitFor(t, "the cache is empty and no sweep is armed", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.entries) == 0 && c.sweeper == nil
	})

	c.fill(s("at-close"), c.generation())
	c.close()
	c.fill(s("after-close"), c.generation())
	if n := c.len(); n != 0 {
		t.Errorf("%d entries after close, want none", n)
	}
}

// racingRead plays an issuance read of id racing its deletion: begun
// after the deletion dropped the cache entry (beforeDeletion is called
// after that), reading the key before it is shredded, and filling the
// cache. It reports whether it did.
func racingRead(t *testing.T, db *DB, id string) (read func() bool) {
	t.Helper()
	var mu sync.Mutex
	done := false
	db.beforeDeletion = func(got string) {
		if got != id {
			return
		}
		if _, err := db.SubjectForIssue(context.Background(), id, t0, 0); err != nil {
			t.Errorf("the racing read: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done = db.issue.len() == 1
	}
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

// A deletion that fails after its key was shredded (node.db failed to
// commit after keys.db did) leaves no cached read of the subject: a read
// that raced the shredding cannot keep the sealed key in memory, nor let
// issuance sign and record codes for a subject whose key is gone.
func TestDeletionFailingAfterTheShredLeavesNoCachedKey(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	read := racingRead(t, db, "s1")
	fault := errors.New("injected: node.db's commit failed")
	db.deletionCommitFault = fault
	if _, err := db.DeleteSubject(t.Context(), "s1", t0); !errors.Is(err, fault) {
		t.Fatalf("DeleteSubject = %v; want the injected failure: this test checks nothing", err)
	}
	if !read() {
		t.Fatal("no racing read filled the cache: this test checks nothing")
	}
	if _, err := db.subjectKey(context.Background(), "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the key was not shredded (%v): this test checks nothing", err)
	}
	if n := db.issue.len(); n != 0 {
		t.Errorf("%d cached subjects after the shred, want none", n)
	}
	if s, err := db.SubjectForIssue(context.Background(), "s1", t0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("issuance read of the shredded subject: %s with a %d-byte sealed key, %v; want ErrNotFound", s.ID, len(s.DataKey), err)
	}
}

// A deletion waiting for node.db's write lock (another writer holds it)
// has shredded nothing yet: the key is shredded in the deletion's own
// transaction, so a status change committed meanwhile can still hold the
// subject. A read that raced the deletion leaves no cached key once the
// deletion is done.
func TestDeletionWaitingForTheWriteLockShredsNothingYet(t *testing.T) {
	db, path := openTestDB(t)
	enrol(t, db, "s1")
	bg := context.Background()
	lock, err := rawDB(t, path).Conn(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(bg, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	read := racingRead(t, db, "s1")
	beginning := make(chan struct{})
	db.beforeDeletionTx = func(string) { close(beginning) }
	deleted := make(chan error, 1)
	go func() {
		_, err := db.DeleteSubject(bg, "s1", t0)
		deleted <- err
	}()
	<-beginning
	select {
	case err := <-deleted:
		t.Fatalf("the deletion ended (%v) while another writer held the database: this test checks nothing", err)
	default:
	}
	if _, err := db.subjectKey(bg, "s1"); err != nil {
		t.Errorf("the key of a subject whose deletion waits for the write lock: %v; want it kept", err)
	}
	if _, err := lock.ExecContext(bg, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if !read() {
		t.Fatal("no racing read filled the cache inside the deletion's transaction: this test checks nothing")
	}
	if n := db.issue.len(); n != 0 {
		t.Errorf("%d cached subjects after the deletion, want none", n)
	}
	if s, err := db.SubjectForIssue(bg, "s1", t0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("issuance read of the shredded subject: %s with a %d-byte sealed key, %v; want ErrNotFound", s.ID, len(s.DataKey), err)
	}
}

// Issuance reads of a resident run without pause, and fill the cache
// again after every drop, while the resident is deleted: once the
// deletion returns, the cache holds nothing of theirs and no read finds
// them, whichever way the reads and the deletion interleaved.
func TestDeletionDuringContinuousReadsOfTheResidentLeavesNothingCached(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	var hits, notFound atomic.Int64
	stop, errs := make(chan struct{}), make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				switch _, err := db.SubjectForIssue(ctx, "s1", t0, 0); {
				case err == nil:
					hits.Add(1)
				case errors.Is(err, ErrNotFound):
					notFound.Add(1)
				default:
					errs <- err
					return
				}
			}
		}()
	}
	stopReads := sync.OnceFunc(func() {
		close(stop)
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("issuance read: %v", err)
			}
		}
	})
	defer stopReads()
	testkit.WaitFor(t, readersWait, time.Millisecond, "the readers to read the resident", testkit.Holds(func() bool {
		return hits.Load() >= 8 && db.issue.len() == 1
	}))
	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if n := db.issue.len(); n != 0 {
		t.Fatalf("%d cached subjects when the deletion returned, want none", n)
	}
	from := notFound.Load()
	testkit.WaitFor(t, readersWait, time.Millisecond, "the readers to read after the deletion", testkit.Holds(func() bool {
		return notFound.Load() >= from+8 || len(errs) > 0
	}))
	stopReads()
	if n := db.issue.len(); n != 0 {
		t.Errorf("%d cached subjects after more reads of the deleted resident, want none", n)
	}
}
