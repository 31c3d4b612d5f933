package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestInsertCodeFromManyGoroutinesWritesEveryRow(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	enrol(t, db, "s1")
	const workers, perWorker = 64, 20
	fanOut(t, workers, perWorker, func(w, i int) error {
		return db.InsertCode(t.Context(), testCode(jti(fmt.Sprint("w", w), i), "s1"))
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	if n := count(t, db, `SELECT COUNT(*) FROM codes`); n != workers*perWorker {
		t.Fatalf("%d code rows, want %d", n, workers*perWorker)
	}
	c, err := db.Code(t.Context(), jti("w63", perWorker-1))
	if err != nil || c.SubjectID != "s1" || c.KID != "kid-1" || !c.IssuedAt.Equal(t0) {
		t.Errorf("Code = %+v, %v", c, err)
	}
}

func TestInsertCodeConflictFailsOnlyItsCaller(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	insertCode(t, db, testCode("dup", "s1"))

	// Hold the writer so that every call below lands in one batch.
	release := holdWriter(t, db)
	const n = 20
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testCode(jti("ok", i), "s1")
			if i == n {
				c.JTI = "dup"
			}
			errs[i] = db.InsertCode(ctx, c)
		}()
	}
	waitFor(t, "all calls queued", func() bool { return db.WriteBacklog() == n+1 })
	release()
	wg.Wait()
	for i, err := range errs[:n] {
		if err != nil {
			t.Errorf("call %d: %v, want nil", i, err)
		}
	}
	wantErr(t, errs[n], ErrConflict)
	if got := count(t, db, `SELECT COUNT(*) FROM codes`); got != n+1 {
		t.Errorf("%d rows, want %d", got, n+1)
	}
}

func TestInsertCodeRefusesMissingFieldsAndUnknownSubject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	wantErr(t, db.InsertCode(ctx, Code{JTI: "x", SubjectID: "s1"}), ErrInvalid)
	wantErr(t, db.InsertCode(ctx, testCode("x", "nobody")), ErrNotFound)
	_, err := db.Code(ctx, "x")
	wantErr(t, err, ErrNotFound)
}

func TestCloseDrainsQueuedCodes(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	enrol(t, db, "s1")
	release := holdWriter(t, db)
	const n = 100
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.InsertCode(context.Background(), testCode(jti("q", i), "s1")); err != nil {
				failed.Add(1)
				t.Errorf("InsertCode queued before Close: %v", err)
			}
		}()
	}
	waitFor(t, "all calls queued", func() bool { return db.WriteBacklog() == n })
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	waitFor(t, "Close to stop new writes", func() bool {
		db.batch.mu.RLock()
		defer db.batch.mu.RUnlock()
		return db.batch.closed
	})
	wantErr(t, db.InsertCode(context.Background(), testCode("after", "s1")), ErrClosed)
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	db = openAt(t, path)
	if got := count(t, db, `SELECT COUNT(*) FROM codes`); got != n {
		t.Fatalf("%d rows after Close, want all %d queued ones", got, n)
	}
}

func TestInsertCodeCancelledWhileQueuedIsNeverWritten(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	release := holdWriter(t, db)

	// "first" is received by the writer, which then blocks on the held
	// connection; "cancelled" waits in the queue behind it, and is cancelled
	// before the writer, free again, tops its batch up with it (commit):
	// nothing is taken until the writer holds its transaction.
	first := make(chan error, 1)
	go func() { first <- db.InsertCode(context.Background(), testCode("first", "s1")) }()
	waitFor(t, "writer to receive the first call", func() bool { return len(db.batch.queue) == 0 && db.WriteBacklog() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() { cancelled <- db.InsertCode(ctx, testCode("cancelled", "s1")) }()
	waitFor(t, "second call queued", func() bool { return len(db.batch.queue) == 1 })
	cancel()
	wantErr(t, <-cancelled, context.Canceled)

	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := db.Code(context.Background(), "cancelled"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancelled code: err = %v, want it never written", err)
	}
}

func TestInsertCodeCancelledAfterTakenReportsTheCommit(t *testing.T) {
	t.Parallel()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	release := holdWriter(t, db)
	commits := db.GroupCommits()
	// The writer receives blocker and waits for the connection; "taken" is
	// queued meanwhile, and joins blocker's batch once the writer has its
	// transaction (commit tops the batch up). Blocker's op running means
	// both are taken: marked so by the writer, not just received from the
	// queue (a cancel before the mark withdraws the call).
	running, unblock := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- db.batch.do(context.Background(), func(*batchTx) error {
			close(running)
			<-unblock
			return nil
		}, nil)
	}()
	waitFor(t, "writer to receive the blocker", func() bool { return len(db.batch.queue) == 0 && db.WriteBacklog() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.InsertCode(ctx, testCode("taken", "s1")) }()
	waitFor(t, "the call queued behind it", func() bool { return len(db.batch.queue) == 1 })
	release()
	<-running
	cancel()
	close(unblock)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("InsertCode = %v, want nil: the row was committed", err)
	}
	if _, err := db.Code(context.Background(), "taken"); err != nil {
		t.Fatalf("taken code not written: %v", err)
	}
	if n := db.GroupCommits() - commits; n != 1 {
		t.Fatalf("%d commits; want 1: the call queued while the writer waited shares its batch", n)
	}
}

// holdWriter occupies the single write connection, so group-committed
// calls queue up behind it, until the returned release is called.
func holdWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	tx, err := db.w.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	t.Cleanup(release)
	return release
}

// BenchmarkInsertCodeParallel measures group-committed issuance with as
// many concurrent callers as a busy node has issuance requests in flight.
// Throughput is about callers per commit over fsync latency, so it is
// reported for several concurrency levels, with the batch size achieved.
func BenchmarkInsertCodeParallel(b *testing.B) {
	for _, callers := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			db, _ := openTestDB(b)
			enrol(b, db, "s1")
			var next atomic.Int64
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			commits := db.batch.commits.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := db.InsertCode(ctx, testCode(jti("b", int(next.Add(1))), "s1")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
			b.ReportMetric(float64(b.N)/float64(db.batch.commits.Load()-commits), "codes/commit")
		})
	}
}

func TestInsertCodeRefusesCodeSignedBeforeAStatusChange(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	enrol(t, db, "s1")
	signedGreen := testCode("jti-before-change", "s1")
	if _, err := db.SetStatus(ctx, "s1", "red", t0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.InsertCode(ctx, signedGreen), ErrStatusChanged)
	if _, err := db.Code(ctx, signedGreen.JTI); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused code was recorded: %v", err)
	}
	red := testCode("jti-after-change", "s1")
	red.Status = "red"
	if err := db.InsertCode(ctx, red); err != nil {
		t.Fatalf("code with the current status: %v", err)
	}
}

// SubjectForIssue, reading from the database, counts the subject's live
// codes as LiveCodes does (not revoked, not expired), from the live-code
// index, in its one query, and refuses a subject holding maxLive of them;
// an unknown subject is ErrNotFound.
func TestSubjectForIssueCountsLiveCodesLikeLiveCodes(t *testing.T) {
	db, path := openTestDB(t)
	db.SetIssueCacheEntries(0) // every call reads
	ctx := context.Background()
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	for i := range 3 {
		if err := db.InsertCode(ctx, testCode(jti("s1-", i), "s1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.InsertCode(ctx, testCode("s2-only", "s2")); err != nil {
		t.Fatal(err)
	}
	mustExec(t, rawDB(t, path), `UPDATE codes SET revoked = 1 WHERE jti = '`+jti("s1-", 0)+`'`)
	for _, at := range []time.Time{t0, testCode("x", "s1").Expires} {
		live, err := db.LiveCodes(ctx, "s1", at)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := db.SubjectForIssue(ctx, "s1", at, live+1); err != nil || s.ID != "s1" || len(s.DataKey) == 0 {
			t.Errorf("at %v with %d live codes, bound %d: %+v, %v", at, live, live+1, s, err)
		}
		if live > 0 {
			if _, err := db.SubjectForIssue(ctx, "s1", at, live); !errors.Is(err, ErrTooManyCodes) {
				t.Errorf("at %v with %d live codes, bound %d: %v, want ErrTooManyCodes", at, live, live, err)
			}
		}
	}
	if _, err := db.SubjectForIssue(ctx, "s1", t0, 2); !errors.Is(err, ErrTooManyCodes) {
		t.Errorf("2 live codes (one of three revoked), bound 2: %v, want ErrTooManyCodes", err)
	}
	if _, err := db.SubjectForIssue(ctx, "s1", t0, 0); err != nil {
		t.Errorf("no bound: %v", err)
	}
	if _, err := db.SubjectForIssue(ctx, "nobody", t0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown subject: %v, want ErrNotFound", err)
	}
	if plan := queryPlan(t, db, issueSubjectQuery, 0, "s1"); !strings.Contains(plan, liveCountPlan) {
		t.Errorf("the live-code count is not a range of codes_of_subject, read without the rows:\n%s", plan)
	}
}

// liveCountPlan is how SQLite reads a subject's live-code count.
const liveCountPlan = "COVERING INDEX codes_of_subject (subject_id=? AND revoked=? AND expires>?)"

// Every query of one subject's codes reads codes_of_subject, the one index
// of them (0011), and the live-code counts read no rows.
func TestSubjectCodeQueriesUseCodesOfSubject(t *testing.T) {
	db, _ := openTestDB(t)
	for _, c := range []struct {
		name, sql string
		args      []any
		want      string
	}{
		{"insert's live-code bound", insertCodeSQL, []any{"j", "s1", "k", 1, 2, 0, 0, nil, nil, "s1", "green", 8, "s1", 1, 8, []byte("tok")}, liveCountPlan},
		{"issuance's read", issueSubjectQuery, []any{0, "s1"}, liveCountPlan},
		{"live codes", liveCodesSQL, []any{"s1", 0}, liveCountPlan},
		{"codes of", codesOfSQL, []any{"s1", 10}, "INDEX codes_of_subject (subject_id=?)"},
		{"revoke", revokeLiveSQL, []any{`["s1"]`, 0}, "INDEX codes_of_subject (subject_id=? AND revoked=? AND expires>?)"},
		{"deletion", detachCodesSQL, []any{"s1"}, "INDEX codes_of_subject (subject_id=?)"},
	} {
		if plan := queryPlan(t, db, c.sql, c.args...); !strings.Contains(plan, c.want) {
			t.Errorf("%s: plan does not read %q:\n%s", c.name, c.want, plan)
		}
	}
}

// queryPlan is SQLite's plan for q, a line a step.
func queryPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.r.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// SubjectForIssue reads the status, masked fields and data key that
// issuance uses, and not the name, ID-number or phone ciphertexts, which
// issuance never opens.
func TestSubjectForIssueReadsOnlyWhatIssuanceUses(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	want := testSubject("s1")
	want.PhoneCT = []byte("ct-phone")
	if err := db.CreateSubject(ctx, want, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"database", "cache"} {
		s, err := db.SubjectForIssue(ctx, "s1", t0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != "s1" || s.Status != want.Status || !bytes.Equal(s.MaskedCT, want.MaskedCT) || !bytes.Equal(s.DataKey, want.DataKey) {
			t.Errorf("SubjectForIssue from the %s = %+v, want id, status, masked fields and data key of %+v", from, s, want)
		}
		if s.NameCT != nil || s.IDNumberCT != nil || s.PhoneCT != nil {
			t.Errorf("SubjectForIssue from the %s returned personal ciphertexts issuance does not open: %+v", from, s)
		}
	}
	if hits, misses := db.IssueCacheStats(); hits != 1 || misses != 1 {
		t.Errorf("issuance cache: %d hits, %d misses; want the second read served from it", hits, misses)
	}
}

// The hot one-row reads no longer watch their context while they run,
// but still refuse one already cancelled, cached or not.
func TestSubjectForIssueRefusesACancelledContext(t *testing.T) {
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := db.SubjectForIssue(ctx, "s1", t0, 0); err != nil {
		t.Fatalf("live context: %v", err)
	}
	cancel()
	if _, err := db.SubjectForIssue(ctx, "s1", t0, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v, want context.Canceled", err)
	}
}

// A code asked for with a token is recorded only while the token exists;
// refused, it writes nothing and leaves the rest of its batch alone.
func TestInsertCodeWithAGoneTokenIsRefusedAlone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	s := testSubject("s1")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{Hash: []byte("tok-s1"), Role: "resident", SubjectID: "s1", Created: t0}); err != nil {
		t.Fatal(err)
	}
	held := testCode("held", "s1")
	held.Token = []byte("tok-s1")
	gone := testCode("gone", "s1")
	gone.Token = []byte("tok-replaced")
	errs := make(chan error, 2)
	for _, c := range []Code{held, gone} {
		go func() { errs <- db.InsertCode(ctx, c) }()
	}
	var refused, recorded int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			recorded++
		case errors.Is(err, ErrTokenGone):
			refused++
		default:
			t.Fatalf("insert: %v", err)
		}
	}
	if recorded != 1 || refused != 1 {
		t.Fatalf("%d recorded and %d refused; want one each", recorded, refused)
	}
	if _, err := db.Code(ctx, "held"); err != nil {
		t.Errorf("the code of the token that stands: %v", err)
	}
	if _, err := db.Code(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the code of the gone token: %v, want ErrNotFound", err)
	}
}
