package store

import (
	"errors"
	"testing"
	"time"
)

// Codes of a key marked compromised are refused everywhere, and so are
// their QR images; they do not count toward a subject's live codes, in
// LiveCodes, issuance's read (SubjectForIssue) and InsertCode's bound, so
// that a subject who held MaxLive of them can have a code of the next key.
func TestCodesOfACompromisedKeyAreNotLive(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	for i := range 2 {
		c := testCode(jti("old", i), "s1")
		c.MaxLive = 2
		insertCode(t, db, c)
	}
	next := testCode("new-1", "s1")
	next.KID, next.MaxLive = "kid-2", 2
	if err := db.InsertCode(ctx, next); !errors.Is(err, ErrTooManyCodes) {
		t.Fatalf("a third code with MaxLive 2: %v, want ErrTooManyCodes: this test checks nothing", err)
	}
	key := KeyRow{KID: "kid-1", Kind: "sign", State: "active", NotBefore: t0.Add(-time.Hour), Expires: t0.Add(7 * 24 * time.Hour), Created: t0.Add(-time.Hour)}
	if err := db.ChangeKeys(ctx, KeyChange{Insert: []KeyRow{key}}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.LiveCodes(ctx, "s1", t0); err != nil || n != 2 {
		t.Fatalf("live codes of an active key: %d, %v; want 2", n, err)
	}
	key.State = "compromised"
	if err := db.ChangeKeys(ctx, KeyChange{Update: []KeyRow{key}}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.LiveCodes(ctx, "s1", t0); err != nil || n != 0 {
		t.Errorf("live codes of a compromised key: %d, %v; want 0", n, err)
	}
	if _, err := db.SubjectForIssue(ctx, "s1", t0, 2); err != nil {
		t.Errorf("issuance read with only codes of a compromised key: %v", err)
	}
	if err := db.InsertCode(ctx, next); err != nil {
		t.Fatalf("a code of the next key: %v", err)
	}
	if n, err := db.LiveCodes(ctx, "s1", t0); err != nil || n != 1 {
		t.Errorf("live codes with one of the next key: %d, %v; want 1", n, err)
	}
}
