package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestLookupsAreKeptUntilTheyExpire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	l := Lookup{ID: "l_1", Home: "440000", JTIHash: "h", CaseID: "SH-1", ContactCT: []byte("sealed"),
		Created: t0, Expires: t0.Add(30 * 24 * time.Hour)}
	if err := db.InsertLookup(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertLookup(ctx, l); !errors.Is(err, ErrConflict) {
		t.Fatalf("same id again: %v", err)
	}
	for _, bad := range []func(*Lookup){
		func(l *Lookup) { l.ContactCT = nil },
		func(l *Lookup) { l.CaseID = "" },
		func(l *Lookup) { l.Expires = l.Created },
	} {
		b := l
		b.ID = "l_bad"
		bad(&b)
		if err := db.InsertLookup(ctx, b); !errors.Is(err, ErrInvalid) {
			t.Errorf("InsertLookup(%+v) = %v, want ErrInvalid", b, err)
		}
	}
	got, err := db.Lookup(ctx, "l_1")
	if err != nil || string(got.ContactCT) != "sealed" || !got.Expires.Equal(l.Expires) || got.Home != "440000" {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	if n, err := db.DeleteExpiredLookups(ctx, l.Expires.Add(-time.Nanosecond)); err != nil || n != 0 {
		t.Fatalf("before expiry: %d, %v", n, err)
	}
	if n, err := db.DeleteExpiredLookups(ctx, l.Expires); err != nil || n != 1 {
		t.Fatalf("at expiry: %d, %v", n, err)
	}
	if _, err := db.Lookup(ctx, "l_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after expiry: %v", err)
	}
}

// A lookup's contact data is sealed under the KEK, not under a key that
// deletion shreds: once the retention pass deletes it, nothing of it may
// stay in node.db (a free cell of its page), or the file and the KEK
// would still open it.
func TestExpiredLookupLeavesNoContactInTheDatabaseFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	gone := Lookup{ID: "l_gone", Home: "440000", JTIHash: "h1", CaseID: "SH-1",
		ContactCT: []byte("SEALED-CONTACT-MARKER-l_gone-0123456789"), Created: t0, Expires: t0.Add(time.Hour)}
	kept := Lookup{ID: "l_kept", Home: "440000", JTIHash: "h2", CaseID: "SH-2",
		ContactCT: []byte("SEALED-CONTACT-MARKER-l_kept-0123456789"), Created: t0, Expires: t0.Add(48 * time.Hour)}
	for _, l := range []Lookup{gone, kept} {
		if err := db.InsertLookup(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	// Written to the file long before it expires, as in a running node.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fileBytes(t, path), gone.ContactCT) {
		t.Fatal("node.db does not hold the contact: this test checks nothing")
	}
	db = openAt(t, path)
	if n, err := db.DeleteExpiredLookups(ctx, gone.Expires); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredLookups = %d, %v; want 1", n, err)
	}
	var on int
	if err := db.w.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on); err != nil || on != 0 {
		t.Fatalf("secure_delete after the deletion = %d, %v; want it off again for other writes", on, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	all := fileBytes(t, path)
	if bytes.Contains(all, gone.ContactCT) {
		t.Fatal("the expired lookup's sealed contact survives in node.db")
	}
	if !bytes.Contains(all, kept.ContactCT) {
		t.Fatal("the lookup not yet due lost its contact")
	}
}
