package store

import (
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
