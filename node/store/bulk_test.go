package store

import (
	"errors"
	"testing"
	"time"
)

func bulkChange(id, status string) StatusChange {
	return StatusChange{SubjectID: id, Status: status,
		Audit: AuditEntry{Time: t0, Actor: "operator", Action: "subject.status", Target: id, Detail: `{"status":"` + status + `"}`}}
}

func TestSetStatusBatchAppliesChangesReportsUnknownAndUnchangedAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, id := range []string{"s1", "s2", "s3"} {
		enrol(t, db, id)
	}
	now := t0.Add(time.Hour)
	insertCode(t, db, testCode("c1", "s1"))
	insertCode(t, db, testCode("c2", "s2"))
	insertCode(t, db, testCode("c3", "s3")) // s3 stays green: its code stays live

	batch := []StatusChange{bulkChange("s1", "yellow"), bulkChange("nobody", "red"),
		bulkChange("s2", "red"), bulkChange("s3", "green")}
	out, rev, err := db.SetStatusBatch(ctx, batch, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []StatusOutcome{StatusApplied, StatusNoSubject, StatusApplied, StatusUnchanged}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("outcome %d = %v, want %v", i, out[i], want[i])
		}
	}
	if rev == nil || len(rev.Entries) != 2 || rev.FirstSeq != 1 || rev.Seq != 1 {
		t.Fatalf("revocation = %+v, want c1 and c2 in one statement, seq 1", rev)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM codes WHERE revoked = 1`); n != 2 {
		t.Errorf("%d codes revoked, want 2", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.status'`); n != 2 {
		t.Errorf("%d audit entries, want one per applied change (2)", n)
	}
	s, _ := db.Subject(ctx, "s3")
	if !s.StatusSince.Equal(t0.Add(-time.Hour)) {
		t.Errorf("unchanged s3's status_since moved to %v", s.StatusSince)
	}

	// The same batch again changes nothing.
	c4 := testCode("c4", "s1") // issued while yellow: stays live
	c4.Status = "yellow"
	insertCode(t, db, c4)
	out, rev, err = db.SetStatusBatch(ctx, batch, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rev != nil {
		t.Errorf("second run revoked %+v, want nothing", rev)
	}
	for i, o := range out {
		if want := map[int]StatusOutcome{1: StatusNoSubject}[i]; (want == 0 && o != StatusUnchanged) || (want != 0 && o != want) {
			t.Errorf("second run outcome %d = %v", i, o)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM revocations`); n != 1 {
		t.Errorf("%d outbox rows after a repeat, want 1", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.status'`); n != 2 {
		t.Errorf("%d audit entries after a repeat, want 2", n)
	}
}

func TestSetStatusBatchRevocationsSplitIntoStatementsAndRefuseBadInput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	enrol(t, db, "big")
	enrol(t, db, "small")
	bulkCodes(t, path, "big", 3500)
	insertCode(t, db, testCode("one", "small"))
	_, rev, err := db.SetStatusBatch(ctx, []StatusChange{bulkChange("big", "red"), bulkChange("small", "red")}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rev == nil || len(rev.Entries) != 3501 || rev.Seq-rev.FirstSeq != 1 {
		t.Fatalf("revocation spans seqs %d..%d with %d entries, want 2 statements, 3501 entries", rev.FirstSeq, rev.Seq, len(rev.Entries))
	}
	for name, batch := range map[string][]StatusChange{
		"bad status":   {bulkChange("small", "purple")},
		"no audit":     {{SubjectID: "small", Status: "green"}},
		"empty id":     {bulkChange("", "green")},
		"over the max": make([]StatusChange, MaxStatusBatch+1),
	} {
		_, _, err := db.SetStatusBatch(ctx, batch, t0.Add(2*time.Hour))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM subjects WHERE status = 'green'`); n != 0 {
		t.Errorf("a refused batch changed %d subjects", n)
	}
}

func TestSetStatusBatchAppliesRepeatedSubjectLinesInOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	insertCode(t, db, testCode("c1", "s1"))
	batch := []StatusChange{bulkChange("s1", "yellow"), bulkChange("s2", "green"), bulkChange("s1", "red"),
		bulkChange("s1", "red"), bulkChange("s2", "red")}
	out, rev, err := db.SetStatusBatch(ctx, batch, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []StatusOutcome{StatusApplied, StatusUnchanged, StatusApplied, StatusUnchanged, StatusApplied}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("outcome %d = %v, want %v", i, out[i], want[i])
		}
	}
	for id, status := range map[string]string{"s1": "red", "s2": "red"} {
		if s, err := db.Subject(ctx, id); err != nil || s.Status != status {
			t.Errorf("%s: %q, %v; want %s (the last line wins)", id, s.Status, err, status)
		}
	}
	if rev == nil || len(rev.Entries) != 1 || rev.Entries[0].JTI != "c1" {
		t.Errorf("revocation = %+v, want c1 once", rev)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'subject.status'`); n != 3 {
		t.Errorf("%d audit entries, want 3 (one per applied line)", n)
	}
}
