package store

import (
	"errors"
	"testing"
	"time"
)

// heldAfterAdoption enrols s-held and s-untouched, each with a code, and
// adopts a statement, published after the backup, that revokes
// s-held's: as after a restore, when s-held was set red after the
// backup and the restored database holds them green. It returns the
// adoption.
func heldAfterAdoption(t *testing.T, db *DB) Adoption {
	t.Helper()
	enrol(t, db, "s-held")
	enrol(t, db, "s-untouched")
	insertCode(t, db, testCode("held-before", "s-held"))
	insertCode(t, db, testCode("untouched", "s-untouched"))
	last, err := db.LastRevocationSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.AdoptPublished(t.Context(), []Published{{Seq: last + 1,
		Entries: []RevocationEntry{{JTI: "held-before", Expires: t0.Add(24 * time.Hour)}}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantIssuance checks whether subject id can be issued a code now: both
// the issuance read and the insert refuse a held subject with
// ErrStatusUnconfirmed.
func wantIssuance(t *testing.T, db *DB, id, jti string, allowed bool) {
	t.Helper()
	_, err := db.SubjectForIssue(t.Context(), id, t0, 0)
	ins := db.InsertCode(t.Context(), testCode(jti, id))
	if allowed {
		if err != nil || ins != nil {
			t.Fatalf("issuing %s: read %v, insert %v; want both allowed", id, err, ins)
		}
		return
	}
	if !errors.Is(err, ErrStatusUnconfirmed) || !errors.Is(ins, ErrStatusUnconfirmed) {
		t.Fatalf("issuing %s: read %v, insert %v; want both ErrStatusUnconfirmed", id, err, ins)
	}
}

// A restore loses the status set after the backup: a resident set red
// then is green again in the restored database. The adoption of the
// revocations published after the backup marks the residents they
// concern, and no code is issued to them on the backup's status until it
// is set again. Before, the adoption only counted them, and they were
// issued green codes that verified in every province.
func TestAdoptedRevocationHoldsItsResidentUntilTheStatusIsSetAgain(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	a := heldAfterAdoption(t, db)
	if a.Residents != 1 {
		t.Fatalf("adoption %+v: want 1 resident held", a)
	}
	s, err := db.Subject(ctx, "s-held")
	if err != nil || !s.StatusUnconfirmed {
		t.Fatalf("held subject: unconfirmed %v, %v; want marked", s.StatusUnconfirmed, err)
	}
	wantIssuance(t, db, "s-held", "held-after", false)
	wantIssuance(t, db, "s-untouched", "untouched-after", true)
	if s, err := db.Subject(ctx, "s-untouched"); err != nil || s.StatusUnconfirmed {
		t.Fatalf("untouched subject: unconfirmed %v, %v; want not marked", s.StatusUnconfirmed, err)
	}

	// Set again (to the status it holds, as the health authority says):
	// issued again.
	if _, err := db.SetStatus(ctx, "s-held", "green", t0); err != nil {
		t.Fatal(err)
	}
	if s, err := db.Subject(ctx, "s-held"); err != nil || s.StatusUnconfirmed {
		t.Fatalf("after SetStatus: unconfirmed %v, %v; want cleared", s.StatusUnconfirmed, err)
	}
	wantIssuance(t, db, "s-held", "held-set-again", true)
}

// A code issued to a resident between the restored node's start and its
// reconciliation was signed with the backup's status: the adoption that
// holds the resident revokes it too, in an outbox statement above the
// adopted seqs.
func TestAdoptionRevokesTheHeldResidentsCodesIssuedSinceTheRestore(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s-held")
	insertCode(t, db, testCode("held-before", "s-held"))
	insertCode(t, db, testCode("issued-since-restore", "s-held"))
	a, err := db.AdoptPublished(ctx, []Published{{Seq: 1,
		Entries: []RevocationEntry{{JTI: "held-before", Expires: t0.Add(24 * time.Hour)}}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Revoked == nil || len(a.Revoked.Entries) != 1 || a.Revoked.Entries[0].JTI != "issued-since-restore" || a.Revoked.Seq != 2 {
		t.Fatalf("adoption revoked %+v; want issued-since-restore at seq 2", a.Revoked)
	}
	if a.LastSeq != 2 {
		t.Fatalf("last seq %d, want 2", a.LastSeq)
	}
	if n, err := db.LiveCodes(ctx, "s-held", t0); err != nil || n != 0 {
		t.Fatalf("held resident's live codes: %d, %v; want 0", n, err)
	}
}

// A bulk line that names the status a held resident has is what the
// health authority sends again after a restore: it confirms the status
// and clears the mark (applied), where for anyone else it is unchanged.
func TestBulkLineOfTheSameStatusClearsTheHold(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	heldAfterAdoption(t, db)
	out, _, err := db.SetStatusBatch(ctx, []StatusChange{
		{SubjectID: "s-held", Status: "green", Audit: AuditEntry{Time: t0, Actor: "op", Action: "subject.status", Target: "s-held"}},
		{SubjectID: "s-untouched", Status: "green", Audit: AuditEntry{Time: t0, Actor: "op", Action: "subject.status", Target: "s-untouched"}},
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != StatusApplied || out[1] != StatusUnchanged {
		t.Fatalf("outcomes %v; want applied (held) and unchanged (untouched)", out)
	}
	wantIssuance(t, db, "s-held", "held-bulk", true)
}

// An upheld appeal that names the status the held resident has confirms
// it: the mark goes, the status_since stays.
func TestUpheldAppealNamingTheHeldStatusClearsTheHold(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	heldAfterAdoption(t, db)
	before, err := db.Subject(ctx, "s-held")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAppeal(ctx, Appeal{ID: "a1", SubjectID: "s-held", Created: t0, MessageCT: []byte("m")}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResolveAppeal(ctx, "a1", AppealResolution{Outcome: "upheld", Applied: "green",
		StatusSince: before.StatusSince, At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	after, err := db.Subject(ctx, "s-held")
	if err != nil || after.StatusUnconfirmed || !after.StatusSince.Equal(before.StatusSince) {
		t.Fatalf("after the appeal: unconfirmed %v, since %v (was %v), %v; want cleared, since unchanged",
			after.StatusUnconfirmed, after.StatusSince, before.StatusSince, err)
	}
	wantIssuance(t, db, "s-held", "held-appeal", true)
}

// A held resident, green in the restored database, may be red in truth:
// the retention pass keeps them as it keeps a red one, and a deletion's
// allow is told of the mark; an operator's deletion still goes through.
func TestHeldResidentIsKeptPastRetentionAndStillDeletable(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	heldAfterAdoption(t, db)
	ids, err := db.SubjectsPastRetention(ctx, t0.Add(365*24*time.Hour), 10)
	if err != nil || len(ids) != 1 || ids[0] != "s-untouched" {
		t.Fatalf("past retention: %v, %v; want only s-untouched", ids, err)
	}
	var told bool
	if _, err := db.DeleteSubjectIf(ctx, "s-held", t0, func(_ string, unconfirmed bool) error {
		told = unconfirmed
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !told {
		t.Error("allow was not told the subject is unconfirmed")
	}
	if _, err := db.Subject(ctx, "s-held"); !errors.Is(err, ErrNotFound) {
		t.Errorf("held subject after its deletion: %v, want ErrNotFound", err)
	}
}
