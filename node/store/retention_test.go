package store

import (
	"reflect"
	"testing"
	"time"
)

func TestRetentionDeletesOnlyWhatIsDue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "keep")
	due := testSubject("due")
	due.RetainUntil = t0
	if err := db.CreateSubject(ctx, due, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if ids, err := db.SubjectsPastRetention(ctx, t0, 10); err != nil || !reflect.DeepEqual(ids, []string{"due"}) {
		t.Fatalf("SubjectsPastRetention = %v, %v; want [due]", ids, err)
	}

	expired := testCode("expired", "keep")
	expired.Expires = t0.Add(time.Hour)
	insertCode(t, db, expired)
	insertCode(t, db, testCode("live", "keep"))
	if n, err := db.DeleteExpiredCodes(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredCodes = %d, %v; want 1", n, err)
	}
	if _, err := db.Code(ctx, "live"); err != nil {
		t.Errorf("live code deleted: %v", err)
	}

	for _, code := range []string{"a", "b"} {
		revokeOne(t, db, "keep", code)
	}
	for _, seq := range []uint64{1, 2} {
		if err := db.MarkPublished(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.DeletePublishedRevocations(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeletePublishedRevocations = %d, %v; want 1 (the newest stays)", n, err)
	}
	if seq, _ := db.LastRevocationSeq(ctx); seq != 2 {
		t.Fatalf("LastRevocationSeq after pruning = %d, want 2", seq)
	}
	if rev := revokeOne(t, db, "keep", "c"); rev.Seq != 3 {
		t.Fatalf("next seq after pruning = %d, want 3", rev.Seq)
	}
}
