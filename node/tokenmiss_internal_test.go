package node

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// zeros is a random source that is not: it lets a test know a token
// before the node draws it.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func newTestAccess(t *testing.T, now *time.Time) (*access, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newAccess(db, config.Default("440000"), testTokenCheck(t), NewMetrics(), func() time.Time { return *now }, rand.Reader), db
}

// TestUnknownTokenIsReadOncePerTTL pins that repeating an unknown token
// costs one database read per tokenMissTTL, not one per request: with the
// database closed after the first miss, the repeats are still refused as
// unknown (a read would fail as internal), until the TTL has passed.
func TestUnknownTokenIsReadOncePerTTL(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	a, db := newTestAccess(t, &now)
	checkUnknownReadOncePerTTL(t, "token", a, &now, db, func(tok string) error {
		_, err := a.authenticate(ctx, tok)
		return err
	})
}

// testAdmin makes the first admin account and returns the principal its
// token resolves to.
func testAdmin(t *testing.T, a *access) Principal {
	t.Helper()
	ctx := context.Background()
	admin, err := a.bootstrapAdmin(ctx, "admin", "test")
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.authenticate(ctx, admin.Token)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// checkUnknownReadOncePerTTL presents an unknown token to authenticate,
// closes db, and checks that repeats are refused as unknown unread (a
// read would fail as internal) until tokenMissTTL has passed on *now.
func checkUnknownReadOncePerTTL(t *testing.T, what string, a *access, now *time.Time, db *store.DB, authenticate func(token string) error) {
	t.Helper()
	unknown, _, err := a.check.mint(rand.Reader) // passes the check, so is read
	if err != nil {
		t.Fatal(err)
	}
	checkRefusedReadOncePerTTL(t, "unknown "+what, now, db, authenticate, unknown)
}

// checkRefusedReadOncePerTTL presents each token to authenticate, which
// must refuse it as EUnauthorized, closes db, and checks that repeats get
// the same refusal unread (a read would fail as internal) until
// tokenMissTTL has passed on *now.
func checkRefusedReadOncePerTTL(t *testing.T, what string, now *time.Time, db *store.DB, authenticate func(token string) error, tokens ...string) {
	t.Helper()
	first := make([]string, len(tokens))
	for i, tok := range tokens {
		err := authenticate(tok)
		if ErrorCodeOf(err) != EUnauthorized {
			t.Fatalf("%s %d: %v, want %q", what, i, err, EUnauthorized)
		}
		first[i] = ErrorMessageOf(err)
	}
	db.Close() // any further read fails
	for i, tok := range tokens {
		for r := range 100 {
			if err := authenticate(tok); ErrorCodeOf(err) != EUnauthorized || ErrorMessageOf(err) != first[i] {
				t.Fatalf("repeat %d of %s %d: %v, want %q (%s) unread", r+1, what, i, err, EUnauthorized, first[i])
			}
		}
	}
	*now = now.Add(tokenMissTTL)
	for i, tok := range tokens {
		if err := authenticate(tok); ErrorCodeOf(err) == EUnauthorized {
			t.Fatalf("%s %d was refused unread past tokenMissTTL", what, i)
		}
	}
}

// TestRefusedTokensAreReadOncePerTTLAndANewTokenWorksAtOnce pins that a
// token found in the database but refused — an expired operator token,
// the token of a disabled account or of a removed scanner (rows another
// process may leave behind) — costs one read per tokenMissTTL, as an
// unknown one does, with the same refusal each time; and that a new
// token minted after one was refused works from its first request.
func TestRefusedTokensAreReadOncePerTTLAndANewTokenWorksAtOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	a, db := newTestAccess(t, &now)
	op := testAdmin(t, a)
	short, err := a.createAccountToken(ctx, op, "admin", "short", minTokenLife)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(minTokenLife)
	if _, err := a.authenticate(ctx, short.Token); ErrorCodeOf(err) != EUnauthorized {
		t.Fatalf("expired token: %v, want %q", err, EUnauthorized)
	}
	fresh, err := a.createAccountToken(ctx, op, "admin", "fresh", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.authenticate(ctx, fresh.Token); err != nil || p.TokenID != fresh.TokenID {
		t.Fatalf("a token minted after an expired one was refused: %+v, %v; want it to work at once", p, err)
	}

	accTok, accHash, err := a.newToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAccount(ctx, store.Account{ID: "ac_gone", Name: "gone", Role: AccountOperator, Created: now, Disabled: true},
		store.Token{Hash: accHash, ID: "tk_gone", Expires: now.Add(time.Hour), Created: now}); err != nil {
		t.Fatal(err)
	}
	scTok, scHash, err := a.newToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddScanner(ctx, store.Scanner{ID: "sc_gone", Name: "gate", Place: "checkpoint", Created: now, Disabled: true},
		store.Token{Hash: scHash, Created: now}); err != nil {
		t.Fatal(err)
	}
	checkRefusedReadOncePerTTL(t, "refused token", &now, db, func(tok string) error {
		_, err := a.authenticate(ctx, tok)
		return err
	}, short.Token, accTok, scTok)
}

// TestUnknownTokensStayBoundedAndANewTokenWorksAtOnce pins the two limits
// of the miss cache: random tokens cannot grow it past tokenMissMax, and
// a token created after it was refused works from its next request.
func TestUnknownTokensStayBoundedAndANewTokenWorksAtOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	a, _ := newTestAccess(t, &now)
	for range 2*tokenMissMax + 10 {
		tok, _, err := a.newToken() // passes the check, so is read
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.authenticate(ctx, tok); ErrorCodeOf(err) != EUnauthorized {
			t.Fatalf("random token: %v", err)
		}
	}
	if n := len(a.tokens.misses); n > tokenMissMax {
		t.Fatalf("%d unknown tokens remembered, want at most %d", n, tokenMissMax)
	}

	op := testAdmin(t, a)
	next, _, err := a.check.mint(zeros{}) // the token the scanner will get
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.authenticate(ctx, next); ErrorCodeOf(err) != EUnauthorized {
		t.Fatalf("token not yet created: %v, want %q", err, EUnauthorized)
	}
	a.rand = zeros{}
	sc, err := a.addScanner(ctx, op, "gate", "checkpoint")
	if err != nil || sc.Token != next {
		t.Fatalf("scanner token %q, %v; want the one refused before", sc.Token, err)
	}
	if p, err := a.authenticate(ctx, sc.Token); err != nil || p.ScannerID != sc.ID {
		t.Fatalf("a token created after it was refused: %+v, %v; want it to work at once", p, err)
	}
}

// TestUnknownReplicaTokenIsReadOncePerTTLAndANewOneWorksAtOnce pins the
// same for replica tokens, which have their own table and their own
// misses: a repeated unknown one is refused unread (with the database
// closed, a read would fail as internal), and one refused before its
// replica was added works at once.
func TestUnknownReplicaTokenIsReadOncePerTTLAndANewOneWorksAtOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	a, db := newTestAccess(t, &now)
	r := &Replicas{a: a}
	op := Principal{Role: RoleOperator, Admin: true} // replicas are an admin's to add

	next, _, err := a.check.mint(zeros{}) // the token the replica will get
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(ctx, next); ErrorCodeOf(err) != EUnauthorized {
		t.Fatalf("replica token not yet created: %v, want %q", err, EUnauthorized)
	}
	a.rand = zeros{}
	rp, err := r.Add(ctx, op, "station")
	if err != nil || rp.Token != next {
		t.Fatalf("replica token %q, %v; want the one refused before", rp.Token, err)
	}
	if got, err := r.Authenticate(ctx, rp.Token); err != nil || got.ID != rp.ID {
		t.Fatalf("a replica token created after it was refused: %+v, %v; want it to work at once", got, err)
	}

	checkUnknownReadOncePerTTL(t, "replica token", a, &now, db, func(tok string) error {
		_, err := r.Authenticate(ctx, tok)
		return err
	})
}
