package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
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

// Sunset's deletions erase what they delete: a lookup's contact is sealed
// under the KEK, which outlives the sunset until the operator destroys
// it, so no byte of it (nor of a subject's sealed name) may stay in a
// free cell of node.db or in its WAL once Sunset returns.
func TestSunsetLeavesNoContactOrNameInTheDatabaseFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	contact := []byte("SEALED-CONTACT-MARKER-sunset-0123456789")
	name := []byte("SEALED-NAME-MARKER-张三丰-0123456789")
	s := testSubject("s1")
	s.NameCT = name
	if err := db.CreateSubject(ctx, s, testConsent(), Token{}); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertLookup(ctx, Lookup{ID: "l_1", Home: "440000", JTIHash: "h1", CaseTag: "tag-1",
		ContactCT: contact, Created: t0, Expires: t0.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Written to the file long before the sunset, as in a running node.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if all := fileBytes(t, path); !bytes.Contains(all, contact) || !bytes.Contains(all, name) {
		t.Fatal("node.db does not hold the contact and the name: this test checks nothing")
	}
	db = openAt(t, path)
	if c, err := db.Sunset(ctx, t0); err != nil || c.Lookups != 1 || c.Subjects != 1 {
		t.Fatalf("Sunset = %+v, %v; want 1 lookup, 1 subject", c, err)
	}
	var on int
	if err := db.w.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on); err != nil || on != 0 {
		t.Fatalf("secure_delete after the sunset = %d, %v; want it off again", on, err)
	}
	// Checked while the store is still open (its WAL in place), then
	// after it closed.
	for _, when := range []string{"open", "closed"} {
		if when == "closed" {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		all := fileBytes(t, path)
		if bytes.Contains(all, contact) {
			t.Errorf("store %s: the lookup's sealed contact survives the sunset in node.db or its WAL", when)
		}
		if bytes.Contains(all, name) {
			t.Errorf("store %s: the subject's sealed name survives the sunset in node.db or its WAL", when)
		}
	}
}

// Sunset's VACUUM of keys.db runs outside the key gate, and needs no
// gate: a read of keys.db racing it sees the keys deleted (VACUUM
// changes no content, and the deletion committed before it), and its
// frames hold no key. What may hold one is keys.db's WAL from before
// the deletion, which the truncation after the VACUUM empties. Another
// process that holds keys.db (here a raw connection with an open read
// transaction) keeps that truncation from finishing: the sunset then
// says so and is not done, instead of reporting the keys gone while
// keys.db-wal still holds them; run again once the reader has let go,
// it finishes and leaves no trace of them.
func TestSunsetRefusesToReportKeysGoneWhileTheirWALIsHeld(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	marker := []byte("SEALED-KEY-MARKER-sunset-held-reader")
	enrolWithKey(t, db, path, "s1", string(marker))
	release := holdKeyStore(t, path)

	_, err := db.Sunset(ctx, t0)
	held := bytes.Contains(fileBytes(t, KeysPath(path)), marker)
	if err == nil && held {
		t.Fatal("Sunset reported success while keys.db or its WAL still holds a data key")
	}
	if !held {
		t.Fatal("the key's frames are gone despite the reader: this test checks nothing")
	}
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "keys.db") {
		t.Fatalf("Sunset with a reader on keys.db = %v; want ErrBusy naming keys.db", err)
	}
	if c, err := db.Counts(ctx); err != nil || c.Subjects != 1 {
		t.Fatalf("after the sunset that stopped: %+v, %v; want the subject's row still there, for the sunset run again", c, err)
	}

	release()
	if c, err := db.Sunset(ctx, t0); err != nil || c.Subjects != 1 {
		t.Fatalf("Sunset run again once the reader let go = %+v, %v; want it done, counting the subject", c, err)
	}
	if bytes.Contains(fileBytes(t, KeysPath(path)), marker) {
		t.Fatal("a data key survives the sunset in keys.db or its WAL")
	}
}
