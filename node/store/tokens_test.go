package store

import (
	"reflect"
	"testing"
	"time"
)

func TestTokenRoundTripAndRoleChecks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	if err := db.CreateAccount(ctx, Account{ID: "ac_1", Name: "li.na", Role: "operator", Created: t0}, Token{}); err != nil {
		t.Fatal(err)
	}
	op := Token{Hash: []byte("operator-hash"), Role: "operator", AccountID: "ac_1", ID: "tk_1", Expires: t0.Add(time.Hour),
		Label: "ops desk", Created: t0}
	if err := db.InsertToken(ctx, op); err != nil {
		t.Fatal(err)
	}
	got, err := db.Token(ctx, op.Hash)
	if err != nil || !reflect.DeepEqual(got, op) {
		t.Fatalf("Token = %+v, %v; want %+v", got, err, op)
	}
	wantErr(t, db.InsertToken(ctx, op), ErrConflict)
	_, err = db.Token(ctx, []byte("unknown"))
	wantErr(t, err, ErrNotFound)

	for name, tc := range map[string]struct {
		tok  Token
		want error
	}{
		"unknown role":              {Token{Hash: []byte("h1"), Role: "admin"}, ErrInvalid},
		"resident without subject":  {Token{Hash: []byte("h2"), Role: "resident"}, ErrInvalid},
		"operator bound to subject": {Token{Hash: []byte("h3"), Role: "operator", SubjectID: "s1"}, ErrInvalid},
		"scanner without scanner":   {Token{Hash: []byte("h4"), Role: "scanner"}, ErrInvalid},
		"resident of nobody":        {Token{Hash: []byte("h5"), Role: "resident", SubjectID: "nobody"}, ErrNotFound},
		"missing hash":              {Token{Role: "operator"}, ErrInvalid},
		"operator of no account":    {Token{Hash: []byte("h6"), Role: "operator", ID: "tk_6", Expires: t0}, ErrInvalid},
		"operator without expiry":   {Token{Hash: []byte("h7"), Role: "operator", AccountID: "ac_1", ID: "tk_7"}, ErrInvalid},
		"operator without id":       {Token{Hash: []byte("h8"), Role: "operator", AccountID: "ac_1", Expires: t0}, ErrInvalid},
		"operator of an unknown account": {Token{Hash: []byte("h9"), Role: "operator", AccountID: "ac_x", ID: "tk_9",
			Expires: t0}, ErrNotFound},
		"scanner with an expiry": {Token{Hash: []byte("h10"), Role: "scanner", ScannerID: "sc", Expires: t0}, ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) { wantErr(t, db.InsertToken(ctx, tc.tok), tc.want) })
	}
}

func TestScannerRoundTripAndRemoveDeletesItsTokens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	sc := Scanner{ID: "sc1", Name: "Gate 3", Place: "station", Created: t0}
	tok := Token{Hash: []byte("scanner-hash-1"), Created: t0}
	if err := db.AddScanner(ctx, sc, tok); err != nil {
		t.Fatal(err)
	}
	other := Scanner{ID: "sc2", Name: "Desk", Place: "workplace", Scope: "status", Created: t0.Add(time.Minute)}
	if err := db.AddScanner(ctx, other, Token{Hash: []byte("scanner-hash-2")}); err != nil {
		t.Fatal(err)
	}
	spare := Token{Hash: []byte("scanner-hash-1b"), Role: "scanner", ScannerID: "sc1", Created: t0}
	if err := db.InsertToken(ctx, spare); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.AddScanner(ctx, sc, Token{}), ErrConflict)

	sc.Scope = "status" // the default
	if got, err := db.Scanner(ctx, "sc1"); err != nil || !reflect.DeepEqual(got, sc) {
		t.Fatalf("Scanner = %+v, %v; want %+v", got, err, sc)
	}
	if got, err := db.Token(ctx, tok.Hash); err != nil || got.Role != "scanner" || got.ScannerID != "sc1" {
		t.Fatalf("scanner token = %+v, %v", got, err)
	}
	if all, err := db.Scanners(ctx); err != nil || !reflect.DeepEqual(all, []Scanner{sc, other}) {
		t.Fatalf("Scanners = %+v, %v", all, err)
	}

	if err := db.RemoveScanner(ctx, "sc1"); err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]byte{tok.Hash, spare.Hash} {
		_, err := db.Token(ctx, h)
		wantErr(t, err, ErrNotFound)
	}
	if _, err := db.Token(ctx, []byte("scanner-hash-2")); err != nil {
		t.Errorf("another scanner's token went too: %v", err)
	}
	if got, _ := db.Scanner(ctx, "sc1"); !got.Disabled {
		t.Error("removed scanner not disabled")
	}
	wantErr(t, db.RemoveScanner(ctx, "nope"), ErrNotFound)
	_, err := db.Scanner(ctx, "nope")
	wantErr(t, err, ErrNotFound)
}

// TestReplaceResidentTokensRevokesThePhoneCodesInTheOutboxAndNotThePaper:
// a lost phone's link is replaced, and the live codes issued to it go
// into the outbox with the replacement; the resident's paper code, an
// expired phone code and another resident's code are left as they were.
func TestReplaceResidentTokensRevokesThePhoneCodesInTheOutboxAndNotThePaper(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	if err := db.CreateSubject(ctx, testSubject("s1"), testConsent(), Token{Hash: []byte("old-resident-hash"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	enrol(t, db, "s2")
	phone, paper, old := testCode("phone", "s1"), testCode("paper", "s1"), testCode("old", "s1")
	paper.Paper = true
	old.Expires = t0.Add(time.Minute)
	for _, c := range []Code{phone, paper, old, testCode("other", "s2")} {
		insertCode(t, db, c)
	}
	now := t0.Add(time.Hour)
	rev, err := db.ReplaceResidentTokens(ctx, Token{Hash: []byte("new-resident-hash"), Role: "resident", SubjectID: "s1", Created: now}, RevocationEntry{})
	if err != nil {
		t.Fatal(err)
	}
	if rev == nil || len(rev.Entries) != 1 || rev.Entries[0].JTI != "phone" {
		t.Fatalf("revocation = %+v, want the live phone code only", rev)
	}
	pending, err := db.PendingRevocations(ctx)
	if err != nil || len(pending) != 1 || pending[0].Seq != rev.Seq || len(pending[0].Entries) != 1 || pending[0].Entries[0].JTI != "phone" {
		t.Fatalf("outbox = %+v, %v; want the phone code's revocation", pending, err)
	}
	for jti, revoked := range map[string]bool{"phone": true, "paper": false, "old": false, "other": false} {
		if c, err := db.Code(ctx, jti); err != nil || c.Revoked != revoked {
			t.Errorf("code %s after the replacement = %+v, %v; want revoked=%v", jti, c, err, revoked)
		}
	}
	_, err = db.Token(ctx, []byte("old-resident-hash"))
	wantErr(t, err, ErrNotFound)

	// Nothing left to revoke: the next replacement appends nothing.
	rev, err = db.ReplaceResidentTokens(ctx, Token{Hash: []byte("newer-resident-hash"), Role: "resident", SubjectID: "s1", Created: now}, RevocationEntry{})
	if err != nil || rev != nil {
		t.Errorf("second replacement = %+v, %v; want no revocation", rev, err)
	}
	_, err = db.ReplaceResidentTokens(ctx, Token{Hash: []byte("h"), Role: "resident", SubjectID: "nobody", Created: now}, RevocationEntry{})
	wantErr(t, err, ErrNotFound)
}

// TestReplaceResidentTokensRevokesItsMarkerEvenWithoutALiveCode: the
// caller's link marker goes into the outbox with the replacement, also
// when no phone code was live, and is kept as a revoked code without a
// subject, so that snapshots carry it; it is counted apart from codes.
func TestReplaceResidentTokensRevokesItsMarkerEvenWithoutALiveCode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	marker := RevocationEntry{JTI: "marker", Expires: t0.Add(3 * time.Hour)}
	rev, err := db.ReplaceResidentTokens(ctx, Token{Hash: []byte("new"), Role: "resident", SubjectID: "s1", Created: t0}, marker)
	if err != nil {
		t.Fatal(err)
	}
	if rev == nil || rev.Markers != 1 || len(rev.Entries) != 1 || rev.Entries[0].JTI != "marker" {
		t.Fatalf("revocation = %+v; want the marker alone, counted as one", rev)
	}
	live, err := db.LiveRevocations(ctx, t0)
	if err != nil || len(live) != 1 || live[0].JTI != "marker" {
		t.Fatalf("live revocations = %+v, %v; want the marker (snapshots carry it)", live, err)
	}
	if c, err := db.Code(ctx, "marker"); err != nil || c.SubjectID != "" || !c.Revoked {
		t.Fatalf("the marker's row = %+v, %v; want a revoked code without subject", c, err)
	}
}

// The scanner set's version moves with every change to a scanner or its
// tokens, in the change's transaction, and with nothing else.
func TestScannerSetVersionMovesWithScannersOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	last := uint64(0)
	step := func(what string, moves bool, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		v, err := db.ScannerSetVersion(ctx)
		if err != nil || (v != last) != moves {
			t.Fatalf("%s: version %d (was %d), %v; want it moved: %v", what, v, last, err, moves)
		}
		last = v
	}
	step("a fresh database", false, nil)
	step("add a scanner", true, db.AddScanner(ctx, Scanner{ID: "sc1", Place: "station", Created: t0},
		Token{Hash: []byte("scanner-hash-1"), Created: t0}))
	wantErr(t, db.AddScanner(ctx, Scanner{ID: "sc1", Place: "station", Created: t0}, Token{}), ErrConflict)
	step("a refused add", false, nil)
	step("another scanner token", true, db.InsertToken(ctx, Token{Hash: []byte("scanner-hash-2"), Role: "scanner",
		ScannerID: "sc1", Created: t0}))
	step("an account and its token", false, db.CreateAccount(ctx, Account{ID: "ac_1", Name: "li.na", Role: "operator",
		Created: t0}, Token{Hash: []byte("operator-hash"), ID: "tk_1", Expires: t0.Add(time.Hour), Created: t0}))
	step("remove the scanner", true, db.RemoveScanner(ctx, "sc1"))
	if toks, err := db.ScannerTokens(ctx); err != nil || len(toks) != 0 {
		t.Fatalf("ScannerTokens = %v, %v; want none", toks, err)
	}
}
