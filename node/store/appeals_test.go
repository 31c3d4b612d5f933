package store

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
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
	if err := db.CreateAppeal(ctx, a, 3); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAppeal(ctx, Appeal{ID: "a2", SubjectID: "s2", Created: t0.Add(time.Minute), MessageCT: []byte("m")}, 3); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.CreateAppeal(ctx, Appeal{ID: "a3", SubjectID: "nobody", Created: t0, MessageCT: []byte("m")}, 3), ErrNotFound)
	wantErr(t, db.CreateAppeal(ctx, a, 3), ErrConflict)
	wantErr(t, db.CreateAppeal(ctx, Appeal{ID: "a4", SubjectID: "s1", Created: t0}, 3), ErrInvalid)

	open, err := db.OpenAppeals(ctx, AppealCursor{}, 10)
	if err != nil || len(open) != 2 || open[0].ID != "a1" || open[0].Status != "open" || string(open[0].MessageCT) != "sealed message" {
		t.Fatalf("OpenAppeals = %+v, %v", open, err)
	}
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", resolution(t, db, "a1", "maybe", nil, "", t0))), ErrInvalid)
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", resolution(t, db, "a1", "upheld", nil, "purple", t0))), ErrInvalid)
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "nope", AppealResolution{Outcome: "upheld", StatusSince: t0, At: t0})), ErrNotFound)
	at := t0.Add(time.Hour)
	if _, err := db.ResolveAppeal(ctx, "a1", resolution(t, db, "a1", "upheld", []byte("sealed note"), "green", at)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", resolution(t, db, "a1", "rejected", nil, "", at))), ErrConflict)
	got, err := db.Appeal(ctx, "a1")
	if err != nil || got.Status != "upheld" || got.AppliedStatus != "green" || string(got.NoteCT) != "sealed note" || !got.ResolvedAt.Equal(at) {
		t.Fatalf("resolved appeal = %+v, %v", got, err)
	}
	if open, _ := db.OpenAppeals(ctx, AppealCursor{}, 10); len(open) != 1 || open[0].ID != "a2" {
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

func TestCreateAppealBoundsOpenAppealsPerSubject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	file := func(id, subject string) error {
		return db.CreateAppeal(ctx, Appeal{ID: id, SubjectID: subject, Created: t0, MessageCT: []byte("m")}, 2)
	}
	for _, id := range []string{"a1", "a2"} {
		if err := file(id, "s1"); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, file("a3", "s1"), ErrTooManyOpen)
	if err := file("b1", "s2"); err != nil {
		t.Fatalf("another subject is bounded by s1's appeals: %v", err)
	}
	if err := resolveErr(db.ResolveAppeal(ctx, "a1", resolution(t, db, "a1", "rejected", nil, "", t0.Add(time.Hour)))); err != nil {
		t.Fatal(err)
	}
	if err := file("a3", "s1"); err != nil {
		t.Fatalf("resolving one appeal does not make room for the next: %v", err)
	}
	wantErr(t, db.CreateAppeal(ctx, Appeal{ID: "a4", SubjectID: "s1", Created: t0, MessageCT: []byte("m")}, 0), ErrInvalid)
}

func TestOpenAppealsPagesInAStableOrderWithoutSkipsOrRepeats(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	var want []string
	for i := 0; i < 7; i++ {
		s := fmt.Sprintf("s%d", i)
		enrol(t, db, s)
		// Two appeals share each creation time: the id breaks the tie.
		for _, suffix := range []string{"b", "a"} {
			id := fmt.Sprintf("ap%d%s", i/2, suffix+s)
			if err := db.CreateAppeal(ctx, Appeal{ID: id, SubjectID: s, Created: t0.Add(time.Duration(i/2) * time.Minute),
				MessageCT: []byte("m")}, 3); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, err := db.OpenAppeals(ctx, AppealCursor{}, 100)
	if err != nil || len(all) != 14 {
		t.Fatalf("OpenAppeals = %d, %v", len(all), err)
	}
	for _, a := range all {
		want = append(want, a.ID)
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool {
		return all[i].Created.Before(all[j].Created) || all[i].Created.Equal(all[j].Created) && all[i].ID < all[j].ID
	}) {
		t.Fatalf("not in (created, id) order: %v", want)
	}
	var got []string
	var cur AppealCursor
	for pages := 0; ; pages++ {
		page, err := db.OpenAppeals(ctx, cur, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if pages == 1 { // resolving an appeal already listed moves nothing
			if err := resolveErr(db.ResolveAppeal(ctx, want[0], resolution(t, db, want[0], "rejected", nil, "", t0.Add(time.Hour)))); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range page {
			got = append(got, a.ID)
		}
		last := page[len(page)-1]
		cur = AppealCursor{Created: last.Created, ID: last.ID}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged %v\nwant  %v", got, want)
	}
}

// resolution is an AppealResolution decided against the current status of
// the appeal's subject.
func resolution(t testing.TB, db *DB, appealID, outcome string, note []byte, applied string, at time.Time) AppealResolution {
	t.Helper()
	a, err := db.Appeal(t.Context(), appealID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Subject(t.Context(), a.SubjectID)
	if err != nil {
		t.Fatal(err)
	}
	return AppealResolution{Outcome: outcome, NoteCT: note, Applied: applied, StatusSince: s.StatusSince, At: at}
}

// resolveErr drops ResolveAppeal's revocation, for checking its error.
func resolveErr(_ *Revocation, err error) error { return err }

// A resolution is taken against the subject's status at a time: a status
// set after it (SetStatus, or SetStatusBatch's bulk path) refuses it with
// ErrStatusChanged and nothing written. An upheld appeal naming the
// status the subject has records it and sets nothing: status_since and
// the live codes stay.
func TestResolveAppealIsRefusedAfterAStatusChangeAndKeepsAnEqualStatus(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	if _, err := db.SetStatus(ctx, "s1", "red", t0); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAppeal(ctx, Appeal{ID: "a1", SubjectID: "s1", Created: t0.Add(time.Minute), MessageCT: []byte("m")}, 3); err != nil {
		t.Fatal(err)
	}
	if a, err := db.Appeal(ctx, "a1"); err != nil || !a.FiledStatusSince.Equal(t0) {
		t.Fatalf("filed status since = %v, %v; want the red's time %v", a.FiledStatusSince, err, t0)
	}
	read := resolution(t, db, "a1", "upheld", nil, "green", t0.Add(time.Hour))
	if _, err := db.SetStatus(ctx, "s1", "red", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, resolveErr(db.ResolveAppeal(ctx, "a1", read)), ErrStatusChanged)
	if a, _ := db.Appeal(ctx, "a1"); a.Status != "open" {
		t.Fatalf("appeal after the refused resolution: %+v", a)
	}
	if s, _ := db.Subject(ctx, "s1"); s.Status != "red" {
		t.Fatalf("status after the refused resolution: %s", s.Status)
	}

	if _, _, err := db.SetStatusBatch(ctx, []StatusChange{bulkChange("s1", "yellow")}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	insertCode(t, db, Code{JTI: "j1", SubjectID: "s1", KID: "kid-1", Status: "yellow", IssuedAt: t0.Add(3 * time.Minute),
		Expires: t0.Add(24 * time.Hour)})
	before, _ := db.Subject(ctx, "s1")
	rev, err := db.ResolveAppeal(ctx, "a1", resolution(t, db, "a1", "upheld", nil, "yellow", t0.Add(time.Hour)))
	if err != nil || rev != nil {
		t.Fatalf("upheld with the current status: revocation %+v, %v; want none", rev, err)
	}
	after, _ := db.Subject(ctx, "s1")
	if !after.StatusSince.Equal(before.StatusSince) || after.Status != "yellow" {
		t.Fatalf("subject after an upheld appeal that kept its status: %s since %v, was since %v", after.Status, after.StatusSince, before.StatusSince)
	}
	if a, _ := db.Appeal(ctx, "a1"); a.Status != "upheld" || a.AppliedStatus != "yellow" {
		t.Fatalf("appeal = %+v", a)
	}
}

// A resolved appeal's message and note are sealed under the resident's
// data key, which outlives the appeal while the resident is enrolled:
// once the retention pass deletes the appeal, nothing of its text may
// stay in node.db — in a free cell of its page, or in a copy a page
// split left when appeals filed after it were inserted — or the file and
// the keys would still open what the retention promised to delete.
func TestResolvedAppealDeletedLeavesNoTextInTheDatabaseFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	const appeals = 60
	text := func(what string, i int) []byte {
		return []byte(fmt.Sprintf("SEALED-APPEAL-%s-MARKER-%03d-0123456789", what, i))
	}
	id := func(i int) string { return fmt.Sprintf("a%03d", i) }
	// Even appeals are resolved first and are due; odd ones are not. The
	// texts differ in length, as real ones do.
	resolvedAt := func(i int) time.Time { return t0.Add(time.Duration(1+i%2) * time.Hour) }
	for i := range appeals {
		s := fmt.Sprintf("s%03d", i)
		enrol(t, db, s)
		if err := db.CreateAppeal(ctx, Appeal{ID: id(i), SubjectID: s, Created: t0, MessageCT: bytes.Repeat(text("MESSAGE", i), 1+i%5)}, 3); err != nil {
			t.Fatal(err)
		}
	}
	// Filed and resolved long before the retention pass, as in a running
	// node: the texts are in the file by then.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path)
	for i := range appeals {
		if _, err := db.ResolveAppeal(ctx, id(i), resolution(t, db, id(i), "rejected", bytes.Repeat(text("NOTE", i), 1+i%3), "", resolvedAt(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if b := fileBytes(t, path); !bytes.Contains(b, text("MESSAGE", 0)) || !bytes.Contains(b, text("NOTE", 0)) {
		t.Fatal("node.db does not hold the appeals' text: this test checks nothing")
	}
	db = openAt(t, path)
	n, err := db.DeleteResolvedAppeals(ctx, resolvedAt(0), appeals, func(a Appeal) AuditEntry {
		return AuditEntry{Time: resolvedAt(0), Actor: "system", Action: "appeal.retention_delete", Target: a.SubjectID}
	})
	if err != nil || n != appeals/2 {
		t.Fatalf("DeleteResolvedAppeals = %d, %v; want %d", n, err, appeals/2)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	all := fileBytes(t, path)
	for i := range appeals {
		for _, what := range []string{"MESSAGE", "NOTE"} {
			switch held := bytes.Contains(all, text(what, i)); {
			case i%2 == 0 && held:
				t.Errorf("appeal %s was deleted, and its sealed %s survives in node.db", id(i), what)
			case i%2 == 1 && !held:
				t.Errorf("appeal %s is not due, and lost its %s", id(i), what)
			}
		}
	}
}
