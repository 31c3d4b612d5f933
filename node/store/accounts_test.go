package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// accountToken is test token i of account id, expiring an hour after t0.
func accountToken(id string, i int) Token {
	return Token{Hash: fmt.Appendf(nil, "%s-hash-%d", id, i), Role: "operator", AccountID: id,
		ID: fmt.Sprintf("tk_%s_%d", id, i), Expires: t0.Add(time.Hour), Created: t0.Add(time.Duration(i) * time.Second)}
}

func TestAccountsRoundTripAndNamesAreUniqueInAnyCase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	admin := Account{ID: "ac_a", Name: "Admin", Role: "admin", Created: t0}
	if err := db.CreateAccount(ctx, admin, accountToken("ac_a", 1)); err != nil {
		t.Fatal(err)
	}
	op := Account{ID: "ac_o", Name: "li.na", Role: "operator", Created: t0.Add(time.Minute)}
	if err := db.CreateAccount(ctx, op, Token{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.CreateAccount(ctx, Account{ID: "ac_x", Name: "LI.NA", Role: "operator", Created: t0}, Token{}), ErrConflict)
	wantErr(t, db.CreateAccount(ctx, Account{ID: "ac_y", Name: "y", Role: "root", Created: t0}, Token{}), ErrInvalid)
	wantErr(t, db.CreateAccount(ctx, Account{ID: "ac_z", Name: "z", Role: "admin", Created: t0},
		Token{Hash: []byte("z"), AccountID: "ac_a", ID: "tk_z", Expires: t0}), ErrInvalid)

	for _, ref := range []string{"ac_o", "li.na", "Li.Na"} {
		if got, err := db.Account(ctx, ref); err != nil || !reflect.DeepEqual(got, op) {
			t.Fatalf("Account(%q) = %+v, %v; want %+v", ref, got, err, op)
		}
	}
	_, err := db.Account(ctx, "nobody")
	wantErr(t, err, ErrNotFound)
	if all, err := db.Accounts(ctx); err != nil || !reflect.DeepEqual(all, []Account{admin, op}) {
		t.Fatalf("Accounts = %+v, %v", all, err)
	}
	for i := 1; i <= 2; i++ {
		if err := db.AddAccountToken(ctx, accountToken("ac_o", i)); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, db.AddAccountToken(ctx, accountToken("ac_nobody", 1)), ErrNotFound)
	toks, err := db.AccountTokens(ctx, "ac_o")
	if err != nil || len(toks) != 2 || toks[0].ID != "tk_ac_o_1" || !toks[0].Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("AccountTokens(ac_o) = %+v, %v", toks, err)
	}
	if all, err := db.AccountTokens(ctx, ""); err != nil || len(all) != 3 {
		t.Fatalf("AccountTokens() = %d tokens, %v; want 3", len(all), err)
	}
}

func TestRevokeAndDisableDeleteTokensButNeverTheLastAdmin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	mustCreate := func(id, role string, tokens int) {
		t.Helper()
		if err := db.CreateAccount(ctx, Account{ID: id, Name: id + "-name", Role: role, Created: t0}, accountToken(id, 0)); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < tokens; i++ {
			if err := db.AddAccountToken(ctx, accountToken(id, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustCreate("ac_a", "admin", 1)
	mustCreate("ac_o", "operator", 3)

	if err := db.RevokeAccountToken(ctx, "ac_o", "tk_ac_o_1"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Token(ctx, accountToken("ac_o", 1).Hash)
	wantErr(t, err, ErrNotFound)
	wantErr(t, db.RevokeAccountToken(ctx, "ac_a", "tk_ac_o_2"), ErrNotFound) // another account's token
	if _, err := db.Token(ctx, accountToken("ac_o", 2).Hash); err != nil {
		t.Fatalf("a token revoked through another account went: %v", err)
	}

	if n, err := db.DisableAccount(ctx, "ac_o"); err != nil || n != 2 {
		t.Fatalf("DisableAccount = %d, %v; want 2 tokens revoked", n, err)
	}
	if toks, _ := db.AccountTokens(ctx, "ac_o"); len(toks) != 0 {
		t.Fatalf("disabled account keeps %d tokens", len(toks))
	}
	wantErr(t, db.AddAccountToken(ctx, accountToken("ac_o", 9)), ErrDisabled)
	if a, _ := db.Account(ctx, "ac_o"); !a.Disabled {
		t.Fatal("account not disabled")
	}
	_, err = db.DisableAccount(ctx, "ac_nobody")
	wantErr(t, err, ErrNotFound)

	_, err = db.DisableAccount(ctx, "ac_a")
	wantErr(t, err, ErrLastAdmin)
	wantErr(t, err, ErrConflict)
	if _, err := db.Token(ctx, accountToken("ac_a", 0).Hash); err != nil {
		t.Fatalf("the refused disable revoked the admin's token: %v", err)
	}
	mustCreate("ac_b", "admin", 1)
	if n, err := db.DisableAccount(ctx, "ac_a"); err != nil || n != 1 {
		t.Fatalf("DisableAccount with another admin = %d, %v", n, err)
	}
}

func TestMigrationAttachesOldOperatorTokensToAnInitAdmin(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := t.TempDir() + "/node.db"
	// A database as migration 0007 left it, with an operator token from
	// an old init and a scanner with its token.
	raw := rawDBAtVersion(t, path, 7)
	mustExec(t, raw,
		fmt.Sprintf(`INSERT INTO tokens (hash, role, label, created) VALUES (x'0102030405060708090a', 'operator', 'init', %d)`, t0.UnixNano()),
		`INSERT INTO scanners (id, name, place, scope, created) VALUES ('sc1', 'gate', 'checkpoint', 'status', 1)`,
		`INSERT INTO tokens (hash, role, scanner_id, label, created) VALUES (x'aa', 'scanner', 'sc1', 'gate', 1)`)
	raw.Close()

	before := time.Now()
	db := openAt(t, path)
	tok, err := db.Token(ctx, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if err != nil || tok.AccountID != "ac_init" || tok.ID != "tk_010203040506070809" || tok.Label != "init" {
		t.Fatalf("old operator token after migration = %+v, %v", tok, err)
	}
	if d := tok.Expires.Sub(before); d < 719*time.Hour || d > 721*time.Hour {
		t.Fatalf("old operator token expires %v after the migration, want 720h", d)
	}
	a, err := db.Account(ctx, "init")
	if err != nil || a.ID != "ac_init" || a.Role != "admin" || a.Disabled || !a.Created.Equal(t0) {
		t.Fatalf("init account = %+v, %v", a, err)
	}
	sc, err := db.Token(ctx, []byte{0xaa})
	if err != nil || sc.ScannerID != "sc1" || sc.AccountID != "" || sc.ID != "" || !sc.Expires.IsZero() {
		t.Fatalf("scanner token after migration = %+v, %v", sc, err)
	}

	// A new database has no operator token, so no init account.
	fresh, _ := openTestDB(t)
	if all, err := fresh.Accounts(ctx); err != nil || len(all) != 0 {
		t.Fatalf("a new database has accounts %+v, %v", all, err)
	}
}

// A feed account (the health platform's status feed) is a role the
// accounts table refused before migration 0018. The migration rebuilds
// the table: every account and token of a database at version 17 keeps
// its id, role and state, the tokens still reference their accounts, and
// a feed account may be made after it, as no role outside the three.
func TestMigrationLetsAccountsHaveTheFeedRole(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/node.db"
	raw := rawDBAtVersion(t, path, 17)
	mustExec(t, raw,
		`INSERT INTO accounts (id, name, role, created, disabled) VALUES ('ac_a', 'Alice', 'admin', 1, 0), ('ac_o', 'clerk', 'operator', 2, 1)`,
		`INSERT INTO tokens (hash, role, account_id, id, expires, label, created) VALUES (x'01', 'operator', 'ac_a', 'tk_a', 9, 'laptop', 1)`)
	if _, err := raw.Exec(`INSERT INTO accounts (id, name, role, created) VALUES ('ac_f', 'platform', 'feed', 3)`); err == nil {
		t.Fatal("the accounts table at version 17 took role feed: the test does not start from before the migration")
	}
	raw.Close()

	ctx := t.Context()
	db := openAt(t, path)
	a, err := db.Account(ctx, "alice")
	if err != nil || a.ID != "ac_a" || a.Role != "admin" || a.Disabled || a.Created.UnixNano() != 1 {
		t.Fatalf("the admin after the migration = %+v, %v", a, err)
	}
	if o, err := db.Account(ctx, "ac_o"); err != nil || o.Role != "operator" || !o.Disabled {
		t.Fatalf("the disabled operator after the migration = %+v, %v", o, err)
	}
	if tok, err := db.Token(ctx, []byte{1}); err != nil || tok.AccountID != "ac_a" || tok.ID != "tk_a" {
		t.Fatalf("the admin's token after the migration = %+v, %v", tok, err)
	}
	mustCreate := func(id, name, role string) error {
		return db.CreateAccount(ctx, Account{ID: id, Name: name, Role: role, Created: t0}, accountToken(id, 0))
	}
	if err := mustCreate("ac_f", "platform", "feed"); err != nil {
		t.Fatalf("a feed account after the migration: %v", err)
	}
	if f, err := db.Account(ctx, "platform"); err != nil || f.Role != "feed" {
		t.Fatalf("the feed account = %+v, %v", f, err)
	}
	if err := mustCreate("ac_x", "root", "superuser"); err == nil {
		t.Fatal("an account with role superuser was made")
	}
	// The tokens' reference to accounts survived the rebuild.
	if _, err := db.w.ExecContext(ctx, `INSERT INTO tokens (hash, role, account_id, id, expires, label, created)
		VALUES (x'02', 'operator', 'ac_none', 'tk_n', 9, '', 1)`); err == nil {
		t.Fatal("a token of no account was stored: the foreign key to accounts is gone")
	}
}

func TestAdminTokensCountOnlyEnabledAdminsTokens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	if last, valid, err := db.AdminTokens(ctx, t0); err != nil || !last.IsZero() || valid != 0 {
		t.Fatalf("no accounts: AdminTokens = %v, %d, %v; want zero, 0", last, valid, err)
	}
	late := accountToken("ac_a", 2)
	late.Expires = t0.Add(48 * time.Hour)
	if err := db.CreateAccount(ctx, Account{ID: "ac_a", Name: "a", Role: "admin", Created: t0}, accountToken("ac_a", 1)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddAccountToken(ctx, late); err != nil {
		t.Fatal(err)
	}
	// An operator's later token and a disabled admin's do not count.
	op := accountToken("ac_o", 1)
	op.Expires = t0.Add(1000 * time.Hour)
	if err := db.CreateAccount(ctx, Account{ID: "ac_o", Name: "o", Role: "operator", Created: t0}, op); err != nil {
		t.Fatal(err)
	}
	gone := accountToken("ac_g", 1)
	gone.Expires = t0.Add(1000 * time.Hour)
	if err := db.CreateAccount(ctx, Account{ID: "ac_g", Name: "g", Role: "admin", Created: t0}, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DisableAccount(ctx, "ac_g"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at    time.Time
		valid int
	}{{t0, 2}, {t0.Add(2 * time.Hour), 1}, {t0.Add(49 * time.Hour), 0}} {
		last, valid, err := db.AdminTokens(ctx, c.at)
		if err != nil || !last.Equal(late.Expires) || valid != c.valid {
			t.Errorf("AdminTokens at %v = %v, %d, %v; want %v, %d", c.at, last, valid, err, late.Expires, c.valid)
		}
	}
}
