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

// enrolWithKey enrols subject id with marker as its sealed data key and
// checks that the key store's files hold it, so that a test looking for
// it after a deletion checks something.
func enrolWithKey(t *testing.T, db *DB, path, id, marker string) {
	t.Helper()
	s := testSubject(id)
	s.DataKey = []byte(marker)
	if err := db.CreateSubject(t.Context(), s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fileBytes(t, KeysPath(path)), s.DataKey) {
		t.Fatal("key store files do not hold the key: this test checks nothing")
	}
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
	if err := db.shredSubjectKeys(ctx, []string{"s1"}); err != nil {
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

// deletionsUnderReads is how many residents
// TestDeletionsDuringContinuousIssuanceLeaveNoTraceOfTheirKeys deletes.
const deletionsUnderReads = 20

// The read pool attaches keys.db, so issuance reads it without pause
// while a deletion truncates its WAL. The readers wait at the gate for
// the truncation (keysGate), so every deletion empties the WAL before it
// returns: no key's old frames are left in keys.db-wal for a later tick.
// Without the gate the truncation had to find a moment with no reader on
// the WAL and often did not within keysTruncateWait; with the old 10 s
// busy timeout instead, deletions here took up to 11 s and one in about
// 90 still left its key in keys.db-wal. Every reader reads before each
// deletion starts and again after it ends, so the reads overlap it
// however the machine schedules them.
func TestDeletionsDuringContinuousIssuanceLeaveNoTraceOfTheirKeys(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	db.SetIssueCacheEntries(0) // every read goes to keys.db
	enrol(t, db, "reader")
	r := startIssuanceReads(t, db, "reader")
	for i := range deletionsUnderReads {
		id, marker := fmt.Sprintf("s%d", i), fmt.Sprintf("SEALED-KEY-MARKER-%02d-under-reads", i)
		enrolWithKey(t, db, path, id, marker)
		r.waitEachReads(t, "every issuance reader to read before the deletion")
		_, err := db.DeleteSubject(ctx, id, t0)
		r.waitEachReads(t, "every issuance reader to read again after the deletion")
		if err != nil {
			t.Fatalf("deletion %d: %v", i, err)
		}
		if db.KeysWALPending() {
			t.Fatalf("deletion %d left keys.db's WAL untruncated, for a later tick", i)
		}
		if bytes.Contains(fileBytes(t, KeysPath(path)), []byte(marker)) {
			t.Fatalf("deletion %d: the deleted subject's key survives in keys.db or its WAL", i)
		}
	}
	for _, err := range r.stop() {
		t.Errorf("issuance read during the deletions: %v", err)
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

// holdKeyStore holds the key store of the database at path as another
// process would: a connection of its own with a read transaction open,
// having read the one key there. release ends the transaction.
func holdKeyStore(t *testing.T, path string) (release func()) {
	t.Helper()
	ctx := t.Context()
	raw := rawDB(t, KeysPath(path))
	raw.SetMaxOpenConns(1)
	reader, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	var n int
	if _, err := reader.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if err := reader.QueryRowContext(ctx, `SELECT count(*) FROM subject_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader: %d keys, %v", n, err)
	}
	return func() {
		t.Helper()
		if _, err := reader.ExecContext(ctx, `COMMIT`); err != nil {
			t.Fatal(err)
		}
	}
}

// A reader that holds keys.db through a deletion (another process, here
// a raw connection with an open read transaction) keeps its WAL from being
// truncated: the deletion stands after keysTruncateWait, not the 10 s busy
// timeout (issuance waits at the gate meanwhile), KeysWALPending says that
// the WAL may still hold the key's old frames, and FinishShredding
// truncates it once the reader has let go, leaving no trace of the key.
func TestShreddingHeldBackByAReaderIsFinishedLater(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	marker := []byte("SEALED-KEY-MARKER-s1-held-reader")
	enrolWithKey(t, db, path, "s1", string(marker))
	release := holdKeyStore(t, path)

	started := time.Now()
	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatalf("deletion with a reader on keys.db: %v", err)
	}
	if took := time.Since(started); took >= busyTimeout {
		t.Errorf("the deletion took %s with another process on keys.db: its truncation waited the busy timeout (%s), "+
			"not keysTruncateWait (%s)", took, busyTimeout, keysTruncateWait)
	}
	if _, err := db.Subject(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted subject: %v, want ErrNotFound", err)
	}
	if !db.KeysWALPending() {
		t.Fatal("KeysWALPending is false with a reader holding the WAL")
	}
	if !bytes.Contains(fileBytes(t, KeysPath(path)), marker) {
		t.Fatal("the key's frames are already gone: this test checks nothing")
	}
	if err := db.FinishShredding(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("FinishShredding with the reader still there: %v, want ErrBusy", err)
	}
	var timeout int64
	if err := db.k.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != busyTimeout.Milliseconds() {
		t.Errorf("the key store's busy timeout after the truncations: %d ms, %v; want %d ms back", timeout, err, busyTimeout.Milliseconds())
	}

	release()
	if err := db.FinishShredding(ctx); err != nil {
		t.Fatalf("FinishShredding once the reader let go: %v", err)
	}
	if db.KeysWALPending() {
		t.Error("KeysWALPending after FinishShredding succeeded")
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), marker) {
		t.Error("the deleted key is still in keys.db or its WAL")
	}
}

// A read of keys.db under way when a deletion truncates the WAL (here one
// held open on the read pool, as a slow issuance read would be) holds the
// truncation at the gate: the truncation waits for it, not for
// keysTruncateWait, then leaves no trace of the key; and reads begun
// meanwhile wait for the truncation instead of holding it off in turn.
func TestShreddingWaitsForAKeyReadUnderWay(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	const marker = "SEALED-KEY-MARKER-s1-read-under-way"
	enrolWithKey(t, db, path, "s1", marker)
	enrol(t, db, "s2")
	conn, err := db.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reading, release, readDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		readDone <- db.keysGate.read(func() error {
			var n int
			if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
				return err
			}
			if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM keys.subject_keys`).Scan(&n); err != nil {
				return err
			}
			close(reading)
			<-release
			_, err := conn.ExecContext(ctx, `COMMIT`)
			return err
		})
	}()
	select {
	case <-reading:
	case err := <-readDone:
		t.Fatalf("the read: %v", err)
	}

	deleted := make(chan error, 1)
	go func() {
		_, err := db.DeleteSubject(ctx, "s1", t0)
		deleted <- err
	}()
	testkit.WaitFor(t, readersWait, time.Millisecond, "the truncation to wait at the gate, or the deletion to end", func() error {
		if len(deleted) > 0 || !db.keysGate.mu.TryRLock() {
			return nil
		}
		db.keysGate.mu.RUnlock()
		return errors.New("no truncation waits at the gate")
	})
	if len(deleted) > 0 {
		t.Fatalf("the deletion ended (%v, WAL pending %v) while a key read was under way: its truncation did not wait for it",
			<-deleted, db.KeysWALPending())
	}
	issued := make(chan error, 1)
	go func() {
		_, err := db.SubjectForIssue(ctx, "s2", t0, 0)
		issued <- err
	}()

	close(release)
	if err := <-readDone; err != nil {
		t.Fatalf("the read: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("the deletion: %v", err)
	}
	if err := <-issued; err != nil {
		t.Errorf("an issuance read begun while the truncation waited: %v", err)
	}
	if db.KeysWALPending() {
		t.Error("KeysWALPending after a truncation that waited for the read")
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), []byte(marker)) {
		t.Error("the deleted key is still in keys.db or its WAL")
	}
}

// A deletion committed stands when emptying keys.db's WAL after it fails
// (an I/O error, say): DeleteSubject reports the deletion, with the codes
// it revoked, so that the node revokes them and sends the erasures;
// KeysWALPending says the WAL may still hold the key, and
// FinishShredding, at a later tick, empties it.
func TestDeletionStandsWhenEmptyingTheWALAfterItFails(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	marker := []byte("SEALED-KEY-MARKER-s1-failed-truncation")
	enrolWithKey(t, db, path, "s1", string(marker))
	if err := db.InsertCode(ctx, Code{JTI: "jti-s1", SubjectID: "s1", KID: "k1", IssuedAt: t0, Expires: t0.Add(time.Hour),
		Status: "green"}); err != nil {
		t.Fatal(err)
	}
	db.checkpointFault = errors.New("injected: disk I/O error")
	rev, err := db.DeleteSubject(ctx, "s1", t0)
	if err != nil {
		t.Fatalf("a committed deletion whose WAL truncation failed: %v, want it reported deleted", err)
	}
	if rev == nil || len(rev.Entries) != 1 || rev.Entries[0].JTI != "jti-s1" {
		t.Fatalf("revocation %+v, want the subject's live code", rev)
	}
	if _, err := db.Subject(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted subject: %v, want ErrNotFound", err)
	}
	if !db.KeysWALPending() {
		t.Fatal("KeysWALPending is false after a failed truncation")
	}
	db.checkpointFault = nil
	if err := db.FinishShredding(ctx); err != nil {
		t.Fatalf("FinishShredding: %v", err)
	}
	if db.KeysWALPending() || bytes.Contains(fileBytes(t, KeysPath(path)), marker) {
		t.Fatal("the deleted key is still in keys.db or its WAL after FinishShredding")
	}
}
