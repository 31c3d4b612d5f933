package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLookupsAreKeptUntilTheyExpire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	l := Lookup{ID: "l_1", Home: "440000", JTIHash: "h", CaseTag: "tag-1", ContactCT: []byte("sealed"),
		Created: t0, Expires: t0.Add(30 * 24 * time.Hour)}
	if err := db.InsertLookup(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertLookup(ctx, l); !errors.Is(err, ErrConflict) {
		t.Fatalf("same id again: %v", err)
	}
	for _, bad := range []func(*Lookup){
		func(l *Lookup) { l.ContactCT = nil },
		func(l *Lookup) { l.CaseTag = "" },
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
	gone := Lookup{ID: "l_gone", Home: "440000", JTIHash: "h1", CaseTag: "tag-1",
		ContactCT: []byte("SEALED-CONTACT-MARKER-l_gone-0123456789"), Created: t0, Expires: t0.Add(time.Hour)}
	kept := Lookup{ID: "l_kept", Home: "440000", JTIHash: "h2", CaseTag: "tag-2",
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

// A home province's erasure deletes what it answered about the codes it
// names, overwriting the bytes, and nothing another province answered or
// about another code: an erasure from Beijing naming Guangdong's code
// deletes nothing.
func TestDeleteLookupsOfDeletesOnlyThatHomesNamedCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	mk := func(id, home, hash string) Lookup {
		return Lookup{ID: id, Home: home, JTIHash: hash, CaseTag: "tag", ContactCT: []byte("SEALED-CONTACT-MARKER-" + id),
			Created: t0, Expires: t0.Add(48 * time.Hour)}
	}
	gone, otherCode, otherHome := mk("l_gone", "440000", "h1"), mk("l_code", "440000", "h2"), mk("l_home", "110000", "h1")
	for _, l := range []Lookup{gone, otherCode, otherHome} {
		if err := db.InsertLookup(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.DeleteLookupsOf(ctx, "110000", []string{"h2"}); err != nil || n != 0 {
		t.Fatalf("Beijing erasing Guangdong's code: %d, %v; want 0", n, err)
	}
	if _, err := db.DeleteLookupsOf(ctx, "440000", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no code: %v, want ErrInvalid", err)
	}
	if n, err := db.DeleteLookupsOf(ctx, "440000", []string{"h1", "h9"}); err != nil || n != 1 {
		t.Fatalf("DeleteLookupsOf = %d, %v; want 1", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	all := fileBytes(t, path)
	if bytes.Contains(all, gone.ContactCT) {
		t.Fatal("the erased lookup's sealed contact survives in node.db")
	}
	for _, l := range []Lookup{otherCode, otherHome} {
		if !bytes.Contains(all, l.ContactCT) {
			t.Errorf("lookup %s, not named, lost its contact", l.ID)
		}
	}
}

// Migration 0012: a lookup kept from before held its case id in clear,
// which the migration cannot turn into a keyed tag; it is blanked, and
// its bytes are gone from node.db and its WAL, while the sealed contact
// stays until its retention.
func TestMigrationLeavesNoClearCaseIDOfAKeptLookup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := t.TempDir() + "/node.db"
	raw := rawDBAtVersion(t, path, 11)
	const caseID = "SH-CASE-MARKER-2026-0042"
	mustExec(t, raw, fmt.Sprintf(`INSERT INTO lookups (id, home, jti_hash, case_id, contact_ct, created, expires)
		VALUES ('l_old', '440000', 'h', '%s', x'5345414c4544', 1, 2)`, caseID))
	raw.Close()
	if !bytes.Contains(fileBytes(t, path), []byte(caseID)) {
		t.Fatal("the old row's case id is not in the files: this test checks nothing")
	}

	db := openAt(t, path)
	l, err := db.Lookup(ctx, "l_old")
	if err != nil || l.CaseTag != "" || string(l.ContactCT) != "SEALED" {
		t.Fatalf("the kept lookup after the migration = %+v, %v", l, err)
	}
	if bytes.Contains(fileBytes(t, path), []byte(caseID)) {
		t.Fatal("the clear case id is still in node.db or its WAL")
	}
}

// AuditOfLookups finds lookup entries by what their detail holds (a case
// tag), newest first, and no other entry that happens to hold it; it reads
// the lookup entries' partial index, not the whole log.
func TestAuditOfLookupsFindsLookupEntriesOnlyThroughTheirIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, e := range []AuditEntry{
		{Actor: "admin:a", Action: "lookup.request", Target: "h1", Detail: `{"case":"TAG1","to":"440000"}`},
		{Actor: "scanner:s", Action: "code.verify", Target: "h1", Detail: `{"case":"TAG1"}`},
		{Actor: "admin:a", Action: "lookup.request", Target: "h2", Detail: `{"case":"TAG2","to":"440000"}`},
		{Actor: "admin:a", Action: "lookup.result", Target: "h1", Detail: `{"case":"TAG1","outcome":"found"}`},
	} {
		e.Time = t0
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.AuditOfLookups(ctx, []string{`"case":"TAG1"`}, 10)
	if err != nil || len(got) != 2 || got[0].Action != "lookup.result" || got[1].Action != "lookup.request" || got[1].Target != "h1" {
		t.Fatalf("AuditOfLookups = %+v, %v", got, err)
	}
	if got, err := db.AuditOfLookups(ctx, []string{`"case":"TAG2"`, `"case":"TAG9"`}, 10); err != nil || len(got) != 1 || got[0].Target != "h2" {
		t.Fatalf("AuditOfLookups of either of two = %+v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {""}, {"a", ""}, {"a", "b", "c", "d", "e"}} {
		if _, err := db.AuditOfLookups(ctx, bad, 10); !errors.Is(err, ErrInvalid) {
			t.Fatalf("needles %q: %v", bad, err)
		}
	}
	plan := queryPlan(t, db, auditOfLookupsQuery(2), "x", "y", 1)
	if !strings.Contains(plan, "audit_lookups") {
		t.Fatalf("the search does not use the lookup entries' index:\n%s", plan)
	}
}
