package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestAppealLifecycleAndCascadeOnDelete(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	a := Appeal{ID: "a1", SubjectID: "s1", Created: t0, MessageCT: []byte("sealed message")}
	if err := db.CreateAppeal(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAppeal(ctx, Appeal{ID: "a2", SubjectID: "s2", Created: t0.Add(time.Minute), MessageCT: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.CreateAppeal(ctx, Appeal{ID: "a3", SubjectID: "nobody", Created: t0, MessageCT: []byte("m")}), ErrNotFound)
	wantErr(t, db.CreateAppeal(ctx, a), ErrConflict)
	wantErr(t, db.CreateAppeal(ctx, Appeal{ID: "a4", SubjectID: "s1", Created: t0}), ErrInvalid)

	open, err := db.OpenAppeals(ctx, 10)
	if err != nil || len(open) != 2 || open[0].ID != "a1" || open[0].Status != "open" || string(open[0].MessageCT) != "sealed message" {
		t.Fatalf("OpenAppeals = %+v, %v", open, err)
	}
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", "maybe", nil, "", t0)), ErrInvalid)
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", "upheld", nil, "purple", t0)), ErrInvalid)
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "nope", "upheld", nil, "", t0)), ErrNotFound)
	at := t0.Add(time.Hour)
	if _, err := db.ResolveAppeal(ctx, "a1", "upheld", []byte("sealed note"), "green", at); err != nil {
		t.Fatal(err)
	}
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", "rejected", nil, "", at)), ErrConflict)
	got, err := db.Appeal(ctx, "a1")
	if err != nil || got.Status != "upheld" || got.AppliedStatus != "green" || string(got.NoteCT) != "sealed note" || !got.ResolvedAt.Equal(at) {
		t.Fatalf("resolved appeal = %+v, %v", got, err)
	}
	if open, _ := db.OpenAppeals(ctx, 10); len(open) != 1 || open[0].ID != "a2" {
		t.Fatalf("open after resolving a1 = %+v", open)
	}
	if mine, _ := db.AppealsOf(ctx, "s1", 10); len(mine) != 1 || mine[0].ID != "a1" {
		t.Fatalf("AppealsOf(s1) = %+v", mine)
	}

	if _, err := db.DeleteSubject(ctx, "s1", at); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Appeal(ctx, "a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("appeal of a deleted subject survives: %v", err)
	}
	if c, _ := db.Counts(ctx); c.Appeals != 1 {
		t.Fatalf("appeals after delete: %d, want 1", c.Appeals)
	}
}

func TestSunsetEmptiesTheKeyStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	s := testSubject("s1")
	s.DataKey = []byte("SUNSET-KEY-MARKER-0123456789")
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Sunset(ctx, t0); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.k.QueryRow(`SELECT COUNT(*) FROM subject_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("key store after sunset: %d keys, %v", n, err)
	}
	if b := fileBytes(t, KeysPath(path)); len(b) == 0 || bytes.Contains(b, s.DataKey) {
		t.Fatal("a data key survives sunset in keys.db or its WAL")
	}
}

// resolveErr drops ResolveAppeal's revocation, for checking its error.
func resolveErr(_ *Revocation, err error) error { return err }
