package store

import (
	"testing"
	"time"
)

// A restore from a backup loses the status changes made after it, while
// the revocations they caused come back from the federation: the
// adoption counts the residents whose live codes it revokes, so that
// the node can tell the operator that their status in the restored
// database predates the backup's later changes. Before, nothing said
// so: a resident set red after the backup was green again after the
// restore and got new green codes.
func TestAdoptPublishedCountsResidentsWhoseLiveCodesItRevokes(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, s := range []string{"s1", "s2", "s3"} {
		enrol(t, db, s)
	}
	insertCode(t, db, testCode("s1-a", "s1"))
	insertCode(t, db, testCode("s1-b", "s1"))
	insertCode(t, db, testCode("s2-a", "s2"))
	insertCode(t, db, testCode("s3-a", "s3"))
	exp := t0.Add(24 * time.Hour)
	// s2's code was revoked before the backup already: nothing new.
	if _, err := db.SetStatus(ctx, "s2", "red", t0); err != nil {
		t.Fatal(err)
	}
	last, err := db.LastRevocationSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pubs := []Published{
		{Seq: last + 1, Entries: []RevocationEntry{{JTI: "s1-a", Expires: exp}, {JTI: "s1-b", Expires: exp}}},
		{Seq: last + 2, Entries: []RevocationEntry{{JTI: "s2-a", Expires: exp}, {JTI: "unknown-after-backup", Expires: exp}}},
	}
	a, err := db.AdoptPublished(ctx, pubs, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Adopted != 2 || a.Residents != 1 {
		t.Fatalf("adoption %+v: want 2 statements adopted and 1 resident (s1) whose live codes they revoke", a)
	}
	if n, err := db.LiveCodes(ctx, "s1", t0); err != nil || n != 0 {
		t.Fatalf("s1's live codes after the adoption: %d, %v; want 0", n, err)
	}
	if n, err := db.LiveCodes(ctx, "s3", t0); err != nil || n != 1 {
		t.Fatalf("s3's live codes after the adoption: %d, %v; want 1 (none of its codes was named)", n, err)
	}
}
