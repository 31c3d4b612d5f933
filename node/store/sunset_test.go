package store

import (
	"errors"
	"testing"
)

func TestSunsetWipesEverythingButCountsAndAudit(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	insertCode(t, db, testCode("c1", "s1"))
	if err := db.AppendAudit(ctx, AuditEntry{Time: t0, Actor: "operator", Action: "subject.enrol", Target: "s1"}); err != nil {
		t.Fatal(err)
	}
	before, err := db.Counts(ctx)
	if err != nil || before.Subjects != 2 || before.Codes != 1 {
		t.Fatalf("counts before: %+v %v", before, err)
	}
	got, err := db.Sunset(ctx, t0)
	if err != nil || got != before {
		t.Fatalf("sunset reported %+v, %v; want %+v", got, err, before)
	}
	after, err := db.Counts(ctx)
	if err != nil || after != (SunsetCounts{}) {
		t.Fatalf("left after sunset: %+v %v", after, err)
	}
	if _, err := db.Subject(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("subject survived: %v", err)
	}
	if v, err := db.GetMeta(ctx, "sunset.subjects"); err != nil || v != "2" {
		t.Fatalf("anonymous count: %q %v", v, err)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 1 {
		t.Fatalf("audit after sunset: %d %v", n, err)
	}
}
