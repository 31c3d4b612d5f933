package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// fileBytes reads path and its WAL, as someone copying the files would.
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestDataKeysLiveOnlyInTheKeyStoreAndDeletionLeavesNoTrace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	s := testSubject("s1")
	s.DataKey = []byte("SEALED-KEY-MARKER-s1-0123456789")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	enrol(t, db, "s2")
	got, err := db.Subject(ctx, "s1")
	if err != nil || !bytes.Equal(got.DataKey, s.DataKey) {
		t.Fatalf("Subject = %+v, %v; want the data key from the key store", got, err)
	}
	if !bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Fatal("key store files do not hold the key: this test checks nothing")
	}
	if bytes.Contains(fileBytes(t, path), s.DataKey) {
		t.Fatal("node.db holds the data key")
	}

	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Fatal("the deleted subject's key survives in keys.db or its WAL")
	}
	_, err = db.Subject(ctx, "s1")
	wantErr(t, err, ErrNotFound)
	if _, err := db.Subject(ctx, "s2"); err != nil {
		t.Fatalf("another subject lost its key: %v", err)
	}
}

func TestSubjectWhoseKeyIsShreddedIsNotFoundAndDeleteFinishes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	insertCode(t, db, testCode("c1", "s1"))
	// As if DeleteSubject died between shredding the key and deleting rows.
	if err := db.shredSubjectKey(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Subject(ctx, "s1")
	wantErr(t, err, ErrNotFound)
	rev, err := db.DeleteSubject(ctx, "s1", t0.Add(time.Hour))
	if err != nil || rev == nil || len(rev.Entries) != 1 {
		t.Fatalf("DeleteSubject after a shredded key = %+v, %v; want it to revoke and delete", rev, err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 0 {
		t.Fatalf("%d subject rows left", n)
	}
}

func TestCreateSubjectThatFailsLeavesNoKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	tok := Token{Hash: []byte("taken"), Created: t0}
	if err := db.CreateSubject(ctx, testSubject("s1"), testConsent(), tok); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.CreateSubject(ctx, testSubject("s2"), testConsent(), tok), ErrConflict)
	if _, err := db.subjectKey(ctx, "s2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed enrolment left its key: %v", err)
	}
	wantErr(t, db.CreateSubject(ctx, testSubject("s1"), testConsent(), Token{}), ErrConflict)
	if _, err := db.Subject(ctx, "s1"); err != nil {
		t.Fatalf("a refused duplicate enrolment broke the first: %v", err)
	}
}

func TestMigrationMovesDataKeysOutOfTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := t.TempDir() + "/node.db"
	// A database as the first schema left it: data keys in the subjects table.
	init1, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	mustExec(t, raw, `PRAGMA journal_mode=WAL`,
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`,
		string(init1), `INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`)
	marker := []byte("OLD-SEALED-KEY-MARKER-0123456789")
	if _, err := raw.Exec(`INSERT INTO subjects (id, data_key, name_ct, status, status_since, created, retain_until)
		VALUES ('old', ?, x'00', 'green', 1, 1, 1)`, marker); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.Subject(ctx, "old")
	if err != nil || !bytes.Equal(s.DataKey, marker) {
		t.Fatalf("Subject after migration = %+v, %v; want its key from the key store", s, err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM pragma_table_info('subjects') WHERE name = 'data_key'`); n != 0 {
		t.Fatal("subjects still has a data_key column")
	}
	if bytes.Contains(fileBytes(t, path), marker) {
		t.Fatal("the moved key is still in node.db or its WAL")
	}
}

// The read pool attaches keys.db, so issuance's reads hold it while a
// deletion truncates its WAL: the truncation waits for them, and the
// deleted key leaves no trace even with reads running throughout. Every
// reader has read before the deletion starts and reads again after it
// ends, so the reads overlap it however the machine schedules them.
func TestDeletionLeavesNoTraceOfTheKeyWhileIssuanceReadsRun(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	db.SetIssueCacheEntries(0) // every read goes to the database
	s := testSubject("s1")
	s.DataKey = []byte("SEALED-KEY-MARKER-s1-busy-reads")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	enrol(t, db, "s2")
	if !bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Fatal("key store files do not hold the key: this test checks nothing")
	}
	r := startIssuanceReads(t, db, "s2")
	r.waitEachReads(t, "every issuance reader's first read")
	started := time.Now()
	_, delErr := db.DeleteSubject(ctx, "s1", t0)
	took := time.Since(started)
	r.waitEachReads(t, "every issuance reader to read again after the deletion")
	for _, err := range r.stop() {
		t.Errorf("issuance read during the deletion: %v", err)
	}
	if delErr != nil {
		t.Fatal(delErr)
	}
	if db.KeysWALPending() {
		// Reads that never pause can keep the checkpoint from finding
		// keys.db free for the whole busy timeout (a loaded machine);
		// the node's next FinishShredding truncates the WAL then. Giving
		// up sooner would mean it did not wait for the reads.
		if took < busyTimeout {
			t.Fatalf("the WAL's truncation gave up after %s, before the busy timeout (%s): it did not wait for the reads", took, busyTimeout)
		}
		t.Logf("the reads kept keys.db busy for %s; finishing the shredding with the reads stopped", took)
		if err := db.FinishShredding(ctx); err != nil {
			t.Fatalf("FinishShredding with the reads stopped: %v", err)
		}
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Fatal("the deleted subject's key survives in keys.db or its WAL")
	}
}

// issuanceReaders read a subject for issuance in a loop, each on its own
// goroutine, until stopped.
type issuanceReaders struct {
	reads [4]atomic.Int64
	errs  chan error // a reader's error, or nil when it stopped
	done  chan struct{}
}

// readersWait bounds the wait for every issuance reader to read once
// more: a read takes milliseconds, a deletion on a loaded machine seconds.
const readersWait = 30 * time.Second

// startIssuanceReads starts the readers of subject id; stop ends them.
func startIssuanceReads(t *testing.T, db *DB, id string) *issuanceReaders {
	t.Helper()
	r := &issuanceReaders{errs: make(chan error, 4), done: make(chan struct{})}
	for i := range r.reads {
		go func() {
			for {
				select {
				case <-r.done:
					r.errs <- nil
					return
				default:
				}
				if _, err := db.SubjectForIssue(t.Context(), id, t0, 0); err != nil {
					r.errs <- err
					return
				}
				r.reads[i].Add(1)
			}
		}()
	}
	return r
}

// waitEachReads waits until every reader has finished a read begun after
// the call, or one of them has failed (stop returns its error).
func (r *issuanceReaders) waitEachReads(t *testing.T, what string) {
	t.Helper()
	var from [4]int64
	for i := range r.reads {
		from[i] = r.reads[i].Load()
	}
	testkit.WaitFor(t, readersWait, time.Millisecond, what, func() error {
		if len(r.errs) > 0 {
			return nil // a reader failed
		}
		for i := range r.reads {
			// A read under way at the call may finish first: a second
			// one was begun after it.
			if r.reads[i].Load() < from[i]+2 {
				return fmt.Errorf("reader %d has read %d times since", i, r.reads[i].Load()-from[i])
			}
		}
		return nil
	})
}

// stop ends the readers and returns their errors.
func (r *issuanceReaders) stop() []error {
	close(r.done)
	var errs []error
	for range r.reads {
		if err := <-r.errs; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// A reader that holds keys.db through a deletion (another process, here
// a raw connection with an open read transaction) keeps its WAL from being
// truncated: the deletion stands, KeysWALPending says that the WAL may
// still hold the key's old frames, and FinishShredding truncates it once
// the reader has let go, leaving no trace of the key.
func TestShreddingHeldBackByAReaderIsFinishedLater(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	s := testSubject("s1")
	s.DataKey = []byte("SEALED-KEY-MARKER-s1-held-reader")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, KeysPath(path))
	raw.SetMaxOpenConns(1)
	reader, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var n int
	if _, err := reader.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM subject_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader: %d keys, %v", n, err)
	}
	if _, err := db.k.ExecContext(ctx, `PRAGMA busy_timeout = 50`); err != nil { // not 10 s of waiting
		t.Fatal(err)
	}

	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatalf("deletion with a reader on keys.db: %v", err)
	}
	if _, err := db.Subject(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted subject: %v, want ErrNotFound", err)
	}
	if !db.KeysWALPending() {
		t.Fatal("KeysWALPending is false with a reader holding the WAL")
	}
	if !bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Fatal("the key's frames are already gone: this test checks nothing")
	}
	if err := db.FinishShredding(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("FinishShredding with the reader still there: %v, want ErrBusy", err)
	}

	if _, err := reader.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishShredding(ctx); err != nil {
		t.Fatalf("FinishShredding once the reader let go: %v", err)
	}
	if db.KeysWALPending() {
		t.Error("KeysWALPending after FinishShredding succeeded")
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Error("the deleted key is still in keys.db or its WAL")
	}
}
