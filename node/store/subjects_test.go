package store

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

func TestCreateSubjectRoundTripsSubjectConsentAndToken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	s, c := testSubject("s1"), testConsent()
	tok := Token{Hash: bytes.Repeat([]byte{7}, 32), Label: "phone", Created: t0}
	if err := db.CreateSubject(ctx, s, c, tok); err != nil {
		t.Fatal(err)
	}
	got, err := db.Subject(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("Subject = %+v\nwant %+v", got, s)
	}
	if got.PhoneCT != nil {
		t.Errorf("PhoneCT = %v, want nil when not collected", got.PhoneCT)
	}
	gc, err := db.Consent(ctx, "s1")
	c.SubjectID = "s1"
	if err != nil || !reflect.DeepEqual(gc, c) {
		t.Errorf("Consent = %+v, %v\nwant %+v", gc, err, c)
	}
	gt, err := db.Token(ctx, tok.Hash)
	if err != nil || gt.Role != "resident" || gt.SubjectID != "s1" || gt.ScannerID != "" {
		t.Errorf("Token = %+v, %v; want the resident token of s1", gt, err)
	}

	wantErr(t, db.CreateSubject(ctx, s, c, Token{}), ErrConflict)
	_, err = db.Subject(ctx, "nobody")
	wantErr(t, err, ErrNotFound)
	_, err = db.Consent(ctx, "nobody")
	wantErr(t, err, ErrNotFound)
}

func TestCreateSubjectRefusesAnythingButItsOwnResidentToken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	for name, tok := range map[string]Token{
		"operator":      {Hash: []byte("h1"), Role: "operator"},
		"scanner":       {Hash: []byte("h2"), Role: "scanner", ScannerID: "sc"},
		"other subject": {Hash: []byte("h3"), Role: "resident", SubjectID: "s2"},
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, db.CreateSubject(ctx, testSubject("s1"), testConsent(), tok), ErrInvalid)
		})
	}
	bad := testSubject("s1")
	bad.Status = "purple"
	wantErr(t, db.CreateSubject(ctx, bad, testConsent(), Token{}), ErrInvalid)
	wantErr(t, db.CreateSubject(ctx, testSubject("s1"), Consent{}, Token{}), ErrInvalid)
	if n := count(t, db, `SELECT COUNT(*) FROM subjects`); n != 0 {
		t.Fatalf("%d subjects written by refused enrolments", n)
	}
}

func TestSetStatusRevokesExactlyLiveUnrevokedCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	now := t0.Add(2 * time.Hour)

	live1, live2 := testCode("live-1", "s1"), testCode("live-2", "s1")
	live2.Expires = now.Add(time.Minute)
	// A verifier accepts a code until trust.ClockSkew past its expiry: a
	// code that expired just now is still revoked, one that expired
	// ClockSkew ago is not.
	grace := testCode("grace", "s1")
	grace.Expires = now
	expired := testCode("expired", "s1")
	expired.Expires = now.Add(-trust.ClockSkew)
	revoked := testCode("revoked", "s1")
	revoked.Revoked = true
	other := testCode("other", "s2")
	for _, c := range []Code{live1, live2, grace, expired, revoked, other} {
		insertCode(t, db, c)
	}

	rev, err := db.SetStatus(ctx, "s1", "red", now)
	if err != nil {
		t.Fatal(err)
	}
	want := []RevocationEntry{{JTI: "grace", Expires: grace.Expires}, {JTI: "live-2", Expires: live2.Expires}, {JTI: "live-1", Expires: live1.Expires}}
	if rev == nil || rev.Seq != 1 || !reflect.DeepEqual(rev.Entries, want) || !rev.Created.Equal(now) || rev.Published {
		t.Fatalf("revocation = %+v, want seq 1 with %v", rev, want)
	}
	for jti, wantRevoked := range map[string]bool{"live-1": true, "live-2": true, "grace": true, "expired": false, "revoked": true, "other": false} {
		c, err := db.Code(ctx, jti)
		if err != nil || c.Revoked != wantRevoked {
			t.Errorf("code %s revoked = %v (%v), want %v", jti, c.Revoked, err, wantRevoked)
		}
	}
	s, _ := db.Subject(ctx, "s1")
	if s.Status != "red" || !s.StatusSince.Equal(now) {
		t.Errorf("subject status = %s since %v, want red since %v", s.Status, s.StatusSince, now)
	}

	live3 := testCode("live-3", "s1")
	live3.Status = "red"
	insertCode(t, db, live3)
	rev, err = db.SetStatus(ctx, "s1", "green", now.Add(time.Minute))
	if err != nil || rev == nil || rev.Seq != 2 || len(rev.Entries) != 1 || rev.Entries[0].JTI != "live-3" {
		t.Fatalf("second revocation = %+v, %v; want seq 2 with live-3", rev, err)
	}
}

func TestSetStatusWithoutLiveCodesConsumesNoSeq(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	rev, err := db.SetStatus(ctx, "s1", "yellow", t0)
	if err != nil || rev != nil {
		t.Fatalf("SetStatus without codes = %+v, %v; want nil, nil", rev, err)
	}
	if seq, _ := db.LastRevocationSeq(ctx); seq != 0 {
		t.Fatalf("LastRevocationSeq = %d, want 0", seq)
	}
	c1 := testCode("c1", "s1")
	c1.Status = "yellow"
	insertCode(t, db, c1)
	rev, err = db.SetStatus(ctx, "s1", "red", t0)
	if err != nil || rev == nil || rev.Seq != 1 {
		t.Fatalf("first real revocation = %+v, %v; want seq 1", rev, err)
	}
}

func TestSetStatusRefusesUnknownSubjectAndStatus(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	_, err := db.SetStatus(ctx, "nobody", "red", t0)
	wantErr(t, err, ErrNotFound)
	enrol(t, db, "s1")
	_, err = db.SetStatus(ctx, "s1", "blue", t0)
	wantErr(t, err, ErrInvalid)
}

func TestDeleteSubjectRemovesPersonAndKeepsUnlinkedCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	resident := Token{Hash: []byte("resident-token-hash"), Created: t0}
	if err := db.CreateSubject(ctx, testSubject("s1"), testConsent(), resident); err != nil {
		t.Fatal(err)
	}
	enrol(t, db, "s2")
	live, old := testCode("live", "s1"), testCode("old", "s1")
	live.TextCT = []byte("sealed code text")
	old.Expires = t0.Add(time.Minute)
	insertCode(t, db, live)
	insertCode(t, db, old)
	insertCode(t, db, testCode("kept", "s2"))
	now := t0.Add(time.Hour)
	if c, err := db.Code(ctx, "live"); err != nil || string(c.TextCT) != "sealed code text" {
		t.Fatalf("Code before delete = %+v, %v; want its sealed text", c, err)
	}

	rev, err := db.DeleteSubject(ctx, "s1", now)
	if err != nil {
		t.Fatal(err)
	}
	if rev == nil || rev.Seq != 1 || len(rev.Entries) != 1 || rev.Entries[0].JTI != "live" {
		t.Fatalf("revocation = %+v, want seq 1 with the live code only", rev)
	}
	_, err = db.Subject(ctx, "s1")
	wantErr(t, err, ErrNotFound)
	_, err = db.Consent(ctx, "s1")
	wantErr(t, err, ErrNotFound)
	_, err = db.Token(ctx, resident.Hash)
	wantErr(t, err, ErrNotFound)
	if n := count(t, db, `SELECT COUNT(*) FROM codes WHERE subject_id = 's1'`); n != 0 {
		t.Errorf("%d code rows still point at the deleted subject", n)
	}
	for _, want := range []Code{{JTI: "live", Revoked: true, Expires: live.Expires}, {JTI: "old", Expires: old.Expires}} {
		c, err := db.Code(ctx, want.JTI)
		if err != nil || c.SubjectID != "" || c.TextCT != nil || c.Revoked != want.Revoked || !c.Expires.Equal(want.Expires) {
			t.Errorf("code %s after delete = %+v, %v; want unlinked, no text, revoked=%v, same expiry", want.JTI, c, err, want.Revoked)
		}
	}
	if c, _ := db.Code(ctx, "kept"); c.SubjectID != "s2" || c.Revoked {
		t.Errorf("another subject's code changed: %+v", c)
	}
	if live, _ := db.LiveRevocations(ctx, now); len(live) != 1 || live[0].JTI != "live" {
		t.Errorf("LiveRevocations = %+v, want the deleted subject's live code", live)
	}
	_, err = db.DeleteSubject(ctx, "s1", now)
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.InsertCode(ctx, testCode("late", "s1")), ErrNotFound)
}

func TestConcurrentSetStatusYieldsContiguousSeqs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	const n = 48
	for i := range n {
		id := fmt.Sprintf("s%02d", i)
		enrol(t, db, id)
		insertCode(t, db, testCode(jti(id, 0), id))
		insertCode(t, db, testCode(jti(id, 1), id))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs []uint64
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("s%02d", i)
			// The second call finds no live code: it must not take a seq.
			for _, status := range []string{"red", "yellow"} {
				rev, err := db.SetStatus(ctx, id, status, t0)
				if err != nil {
					t.Errorf("SetStatus: %v", err)
					return
				}
				if rev != nil {
					mu.Lock()
					seqs = append(seqs, rev.Seq)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	if len(seqs) != n {
		t.Fatalf("%d revocations, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs = %v, want 1..%d without gaps or duplicates", seqs, n)
		}
	}
	if last, _ := db.LastRevocationSeq(ctx); last != n {
		t.Errorf("LastRevocationSeq = %d, want %d", last, n)
	}
	pending, err := db.PendingRevocations(ctx)
	if err != nil || len(pending) != n {
		t.Fatalf("PendingRevocations = %d, %v; want %d", len(pending), err, n)
	}
	for _, r := range pending {
		if len(r.Entries) != 2 {
			t.Errorf("revocation %d has %d entries, want 2", r.Seq, len(r.Entries))
		}
	}
}
