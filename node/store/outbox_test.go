package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

func TestInsertCodeRefusesPastMaxLiveCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	const maxLive = 3
	bounded := func(j string, issued time.Time) Code {
		c := testCode(j, "s1")
		c.IssuedAt, c.Expires, c.MaxLive = issued, issued.Add(24*time.Hour), maxLive
		return c
	}
	for i := range maxLive {
		insertCode(t, db, bounded(jti("a", i), t0))
	}
	if n, err := db.LiveCodes(ctx, "s1", t0); err != nil || n != maxLive {
		t.Fatalf("LiveCodes = %d, %v", n, err)
	}
	wantErr(t, db.InsertCode(ctx, bounded("over", t0)), ErrTooManyCodes)
	if n := count(t, db, `SELECT count(*) FROM codes WHERE jti = 'over'`); n != 0 {
		t.Fatal("the refused code was recorded")
	}
	// Once the codes expire, or are revoked, there is room again.
	insertCode(t, db, bounded("after-expiry", t0.Add(25*time.Hour)))
	if _, err := db.SetStatus(ctx, "s1", "green", t0.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := range maxLive {
		insertCode(t, db, bounded(jti("b", i), t0.Add(26*time.Hour)))
	}
	wantErr(t, db.InsertCode(ctx, bounded("over-again", t0.Add(26*time.Hour))), ErrTooManyCodes)
}

// TestInsertCodeMaxLiveHoldsWithinOneGroupCommit issues from many
// goroutines at once, all in one batch: the bound counts the rows the
// same transaction wrote before.
func TestInsertCodeMaxLiveHoldsWithinOneGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	const maxLive, callers = 5, 40
	release := holdWriter(t, db)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			c := testCode(jti("c", i), "s1")
			c.MaxLive = maxLive
			switch err := db.InsertCode(ctx, c); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrTooManyCodes):
				refused.Add(1)
			default:
				t.Errorf("InsertCode: %v", err)
			}
		})
	}
	waitFor(t, "all calls queued", func() bool { return db.WriteBacklog() == callers })
	release()
	wg.Wait()
	if ok.Load() != maxLive || refused.Load() != callers-maxLive {
		t.Fatalf("%d recorded, %d refused; want %d and %d", ok.Load(), refused.Load(), maxLive, callers-maxLive)
	}
	if n := count(t, db, `SELECT count(*) FROM codes WHERE subject_id = 's1'`); n != maxLive {
		t.Fatalf("%d rows, want %d", n, maxLive)
	}
}

// bulkCodes gives subject n live codes straight in SQL, as a node of an
// earlier version, which had no bound, could have recorded them.
func bulkCodes(t *testing.T, path, subject string, n int) {
	t.Helper()
	raw := rawDB(t, path)
	_, err := raw.Exec(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < ?)
		INSERT INTO codes (jti, subject_id, kid, issued_at, expires) SELECT printf('bulk-%06d', x), ?, 'kid-1', ?, ? + x FROM i`,
		n, subject, nanos(t0), nanos(t0.Add(24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
}

func TestRevokingMoreCodesThanAStatementHoldsCommitsConsecutiveStatements(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	enrol(t, db, "s1")
	revokeOne(t, db, "s1", "earlier") // seq 1
	const n = 2*trust.MaxRevocationEntries + 1
	bulkCodes(t, path, "s1", n)
	rev, err := db.SetStatus(ctx, "s1", "red", t0)
	if err != nil {
		t.Fatal(err)
	}
	if rev.FirstSeq != 2 || rev.Seq != 4 || len(rev.Entries) != n {
		t.Fatalf("revocation seqs %d..%d with %d entries, want 2..4 with %d", rev.FirstSeq, rev.Seq, len(rev.Entries), n)
	}
	pending, err := db.PendingRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	wantSizes := []int{1, trust.MaxRevocationEntries, trust.MaxRevocationEntries, 1}
	if len(pending) != len(wantSizes) {
		t.Fatalf("%d statements pending, want %d", len(pending), len(wantSizes))
	}
	for i, r := range pending {
		if r.Seq != uint64(i+1) || len(r.Entries) != wantSizes[i] {
			t.Errorf("statement %d: seq %d with %d entries, want seq %d with %d", i, r.Seq, len(r.Entries), i+1, wantSizes[i])
		}
		for _, e := range r.Entries {
			seen[e.JTI] = true
		}
	}
	if len(seen) != n+1 {
		t.Fatalf("the statements hold %d distinct codes, want %d", len(seen), n+1)
	}
	// Deleting revokes nothing more: every code is revoked already.
	if rev, err := db.DeleteSubject(ctx, "s1", t0); err != nil || rev != nil {
		t.Fatalf("DeleteSubject = %+v, %v", rev, err)
	}
}

func TestPoisonedRevocationIsSetAsideAndKept(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	for _, c := range []string{"a", "b", "c"} {
		revokeOne(t, db, "s1", c)
	}
	if err := db.MarkPublished(ctx, 3); err != nil {
		t.Fatal(err)
	}
	st, err := db.OutboxState(ctx)
	if err != nil || st.Pending != 2 || !st.OldestPending.Equal(t0) || st.Poisoned != 0 {
		t.Fatalf("OutboxState = %+v, %v", st, err)
	}
	if err := db.PoisonRevocation(ctx, 1, "too_large", t0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.PoisonRevocation(ctx, 1, "too_large", t0), ErrNotFound) // once
	wantErr(t, db.PoisonRevocation(ctx, 3, "too_large", t0), ErrNotFound) // published
	wantErr(t, db.PoisonRevocation(ctx, 2, "", t0), ErrInvalid)
	pending, err := db.PendingRevocations(ctx)
	if err != nil || len(pending) != 1 || pending[0].Seq != 2 {
		t.Fatalf("PendingRevocations = %+v, %v; want seq 2 only", pending, err)
	}
	st, err = db.OutboxState(ctx)
	if err != nil || st.Pending != 1 || st.Poisoned != 1 || st.LastPoisoned != 1 || st.LastPoisonWhy != "too_large" {
		t.Fatalf("OutboxState = %+v, %v", st, err)
	}
	if n := count(t, db, `SELECT count(*) FROM revocations`); n != 3 {
		t.Fatalf("%d outbox rows, want 3: a poisoned one is kept", n)
	}
	if seq, _ := db.LastRevocationSeq(ctx); seq != 3 {
		t.Fatalf("LastRevocationSeq = %d", seq)
	}
	live, err := db.LiveRevocations(ctx, t0)
	if err != nil || len(live) != 3 {
		t.Fatalf("LiveRevocations = %d, %v; the poisoned one's code must stay in snapshots", len(live), err)
	}
	// The next revocation takes the next seq: no seq is reused.
	if rev := revokeOne(t, db, "s1", "d"); rev.Seq != 4 {
		t.Fatalf("next seq %d, want 4", rev.Seq)
	}
}
