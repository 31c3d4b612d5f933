package store

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// A restore from a backup loses the status changes made after it, while
// the revocations they caused come back from the federation: the
// adoption counts the residents whose live codes it revokes, so that
// the node can tell the operator that their status in the restored
// database predates the backup's later changes. Before, nothing said
// so: a resident set red after the backup was green again after the
// restore and got new green codes.
func TestAdoptPublishedCountsResidentsWhoseLiveCodesItRevokes(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, s := range []string{"s1", "s2", "s3"} {
		enrol(t, db, s)
	}
	insertCode(t, db, testCode("s1-a", "s1"))
	insertCode(t, db, testCode("s1-b", "s1"))
	insertCode(t, db, testCode("s2-a", "s2"))
	insertCode(t, db, testCode("s3-a", "s3"))
	exp := t0.Add(24 * time.Hour)
	// s2's code was revoked before the backup already: nothing new.
	if _, err := db.SetStatus(ctx, "s2", "red", t0); err != nil {
		t.Fatal(err)
	}
	last, err := db.LastRevocationSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pubs := []Published{
		{Seq: last + 1, Entries: []RevocationEntry{{JTI: "s1-a", Expires: exp}, {JTI: "s1-b", Expires: exp}}},
		{Seq: last + 2, Entries: []RevocationEntry{{JTI: "s2-a", Expires: exp}, {JTI: "unknown-after-backup", Expires: exp}}},
	}
	a, err := db.AdoptPublished(ctx, pubs, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Adopted != 2 || a.Residents != 1 {
		t.Fatalf("adoption %+v: want 2 statements adopted and 1 resident (s1) whose live codes they revoke", a)
	}
	if n, err := db.LiveCodes(ctx, "s1", t0); err != nil || n != 0 {
		t.Fatalf("s1's live codes after the adoption: %d, %v; want 0", n, err)
	}
	if n, err := db.LiveCodes(ctx, "s3", t0); err != nil || n != 1 {
		t.Fatalf("s3's live codes after the adoption: %d, %v; want 1 (none of its codes was named)", n, err)
	}
}

// TestAdoptPublishedRevokesTheLinksItsMarkersNameAndNoOther: a statement
// whose Links name a subject deletes that subject's resident tokens
// created before LinksBefore (the backup's) and revokes its live phone
// codes (issued to that link since the restore), not its paper code; a
// token made after the restore stays, and so does every link of a
// subject the Links do not name, though the statement revokes its code
// (a status change).
func TestAdoptPublishedRevokesTheLinksItsMarkersNameAndNoOther(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	for id, hash := range map[string]string{"lost": "lost-phone", "red": "red-phone", "fresh": "fresh-phone"} {
		if err := db.CreateSubject(ctx, testSubject(id), testConsent(), Token{Hash: []byte(hash), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	restoredAt := t0.Add(time.Hour)
	// Since the restore: a new link for "fresh", a phone and a paper
	// code for "lost".
	if _, err := db.ReplaceResidentTokens(ctx, Token{Hash: []byte("fresh-new"), Role: "resident", SubjectID: "fresh",
		Created: restoredAt.Add(time.Minute)}, RevocationEntry{}); err != nil {
		t.Fatal(err)
	}
	sinceRestore, paper := testCode("lost-since", "lost"), testCode("lost-paper", "lost")
	sinceRestore.IssuedAt, paper.Paper = restoredAt, true
	insertCode(t, db, sinceRestore)
	insertCode(t, db, paper)
	insertCode(t, db, testCode("red-a", "red"))
	last, err := db.LastRevocationSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(24 * time.Hour)
	pubs := []Published{
		{Seq: last + 1, Entries: []RevocationEntry{{JTI: "marker-of-lost", Expires: exp}},
			Links: []string{"lost"}, LinksBefore: restoredAt},
		{Seq: last + 2, Entries: []RevocationEntry{{JTI: "marker-of-fresh", Expires: exp}},
			Links: []string{"fresh"}, LinksBefore: restoredAt},
		{Seq: last + 3, Entries: []RevocationEntry{{JTI: "red-a", Expires: exp}},
			Links: []string{"s_doesnotexist0000000"}, LinksBefore: restoredAt},
	}
	a, err := db.AdoptPublished(ctx, pubs, restoredAt.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Links) != 1 || a.Links[0] != "lost" {
		t.Fatalf("links revoked: %v, want [lost]", a.Links)
	}
	if a.Residents != 1 || a.Revoked == nil || len(a.Revoked.Entries) != 1 || a.Revoked.Entries[0].JTI != "lost-since" {
		t.Fatalf("adoption %+v, revoked %+v; want red held, and lost's phone code since the restore revoked", a, a.Revoked)
	}
	_, err = db.Token(ctx, []byte("lost-phone"))
	wantErr(t, err, ErrNotFound)
	for _, hash := range []string{"red-phone", "fresh-new"} {
		if _, err := db.Token(ctx, []byte(hash)); err != nil {
			t.Errorf("token %s after the adoption: %v; want kept", hash, err)
		}
	}
	for jti, revoked := range map[string]bool{"lost-since": true, "lost-paper": false} {
		if c, err := db.Code(ctx, jti); err != nil || c.Revoked != revoked {
			t.Errorf("code %s after the adoption = %+v, %v; want revoked=%v", jti, c, err, revoked)
		}
	}
}

// TestLinkHoldersListsTheSubjectsWithAResidentTokenFromBefore: the
// subjects a restored node's markers may name are those holding a
// resident token created before the restore, each once; not a subject
// whose only link was made since, nor one without a link.
func TestLinkHoldersListsTheSubjectsWithAResidentTokenFromBefore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	before := t0.Add(time.Hour)
	for id, created := range map[string]time.Time{"old": t0, "new": before} {
		if err := db.CreateSubject(ctx, testSubject(id), testConsent(), Token{Hash: []byte(id), Created: created}); err != nil {
			t.Fatal(err)
		}
	}
	enrol(t, db, "unlinked")
	got, err := db.LinkHolders(ctx, before)
	if err != nil || !slices.Equal(got, []string{"old"}) {
		t.Fatalf("link holders before %v = %v, %v; want [old]", before, got, err)
	}
}

// TestAdoptPublishedMovesPendingRowsBelowTheHighestAdoptedSeq: revocations
// committed after a restore take the backup's next seqs. An adopted
// statement whose seq is above them (the federation's latest, when the
// stream no longer holds the ones between) leaves them under seqs peers
// hold and skip: every pending row below the highest adopted seq moves
// above it, in its order, as a row at an adopted seq does.
func TestAdoptPublishedMovesPendingRowsBelowTheHighestAdoptedSeq(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	for _, s := range []string{"s1", "s2"} {
		enrol(t, db, s)
	}
	insertCode(t, db, testCode("s1-a", "s1"))
	insertCode(t, db, testCode("s2-a", "s2"))
	for _, s := range []string{"s1", "s2"} { // after the restore, before reconciling
		if _, err := db.SetStatus(ctx, s, "red", t0); err != nil {
			t.Fatal(err)
		}
	}
	last, err := db.LastRevocationSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := db.AdoptPublished(ctx, []Published{{Seq: last + 3}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Renumbered != 2 || a.LastSeq != last+5 {
		t.Fatalf("adoption %+v: want the 2 pending rows moved to %d and %d", a, last+4, last+5)
	}
	pending, err := db.PendingRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range pending {
		got = append(got, fmt.Sprintf("%d:%s", r.Seq, r.Entries[0].JTI))
	}
	if want := []string{fmt.Sprintf("%d:s1-a", last+4), fmt.Sprintf("%d:s2-a", last+5)}; !slices.Equal(got, want) {
		t.Fatalf("pending rows %v, want %v", got, want)
	}
}
