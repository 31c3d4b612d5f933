package store

import (
	"errors"
	"testing"
)

// A deletion that the subject's status forbids (a resident's own, while
// yellow or red) is refused before anything is shredded: the data key and
// the blind index stay, so the record still opens and its ID number still
// refuses a second enrolment; once allowed, the same deletion goes
// through. Shredding first and asking after would leave a red subject
// without the index that keeps them from being enrolled again, green.
func TestDeleteSubjectIfRefusedShredsNothing(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	s := testSubject("s1")
	s.Status = "red"
	s.IDIndex = []byte("INDEX-VALUE-OF-A-RED-SUBJECT-012")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	held := errors.New("held")
	var seen string
	allowGreen := func(status string, _ bool) error {
		seen = status
		if status != "green" {
			return held
		}
		return nil
	}
	if _, err := db.DeleteSubjectIf(ctx, "s1", t0, allowGreen, AuditEntry{Time: t0, Actor: "resident", Action: "subject.delete", Target: "s1"}); !errors.Is(err, held) {
		t.Fatalf("deletion of a red subject = %v, want the refusal", err)
	}
	if seen != "red" {
		t.Errorf("allow was given status %q, want red", seen)
	}
	if _, err := db.Subject(ctx, "s1"); err != nil {
		t.Fatalf("the refused deletion left the subject unreadable: %v", err)
	}
	again := testSubject("s2")
	again.IDIndex = s.IDIndex
	var dup *DuplicateError
	if err := db.CreateSubject(ctx, again, testConsent(), Token{}); !errors.As(err, &dup) || dup.SubjectID != "s1" {
		t.Fatalf("second enrolment of the held subject's number: %v, want a DuplicateError naming s1", err)
	}
	if n := count(t, db, `SELECT count(*) FROM audit WHERE action = 'subject.delete'`); n != 0 {
		t.Errorf("%d subject.delete audit entries for a refused deletion, want none", n)
	}

	if _, err := db.SetStatus(ctx, "s1", "green", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteSubjectIf(ctx, "s1", t0, allowGreen); err != nil {
		t.Fatalf("deletion once green: %v", err)
	}
	if _, err := db.Subject(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("subject after its deletion: %v, want ErrNotFound", err)
	}
}
