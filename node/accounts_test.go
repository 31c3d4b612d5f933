package node_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// startNodeAt is startNode with the node's clock under the test's hand.
func startNodeAt(t *testing.T, clock *testClock) *daemon.Daemon {
	t.Helper()
	cfg := config.Default("440000")
	cfg.DataDir, cfg.Listen, cfg.NATS.Listen = filepath.Join(t.TempDir(), "440000"), "127.0.0.1:0", "127.0.0.1:0"
	if _, err := daemon.Init(context.Background(), cfg); err != nil {
		t.Fatalf("init: %v", err)
	}
	return startInitialised(t, cfg, clock.Now)
}

func startInitialised(t *testing.T, cfg config.Config, now func() time.Time) *daemon.Daemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, daemon.Options{Listener: l, TickEvery: time.Hour, Now: now})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d
}

// admin returns the principal of a fresh token of the node's first admin.
func admin(t *testing.T, n *node.Node) node.Principal {
	t.Helper()
	tok, err := n.BootstrapAdmin(context.Background(), daemon.DefaultAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Authenticate(context.Background(), tok.Token)
	if err != nil || !p.Admin || p.Account != daemon.DefaultAdmin {
		t.Fatalf("admin token authenticates as %+v, %v", p, err)
	}
	return p
}

func newAccount(t *testing.T, n *node.Node, by node.Principal, name, role string) node.NewAccountToken {
	t.Helper()
	a, err := n.CreateAccount(context.Background(), by, name, role, "")
	if err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	return a
}

func wantCode(t *testing.T, err error, code node.ErrorCode) {
	t.Helper()
	if node.ErrorCodeOf(err) != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func TestRevokedOperatorTokenIsRefusedAtOnceEvenWhenCached(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	adm := admin(t, n)
	first := newAccount(t, n, adm, "li.na", node.AccountOperator)
	second, err := n.CreateAccountToken(ctx, adm, "li.na", "laptop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p := authenticateTwice(t, n, first.Token); p.Account != "li.na" || p.Admin || p.TokenID != first.TokenID {
		t.Fatalf("principal %+v", p)
	}
	authenticateTwice(t, n, second.Token)

	if err := n.RevokeAccountToken(ctx, adm, first.AccountID, first.TokenID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, n, first.Token)
	if p, err := n.Authenticate(ctx, second.Token); err != nil || p.Account != "li.na" {
		t.Fatalf("the account's other token: %+v, %v", p, err)
	}
	wantCode(t, n.RevokeAccountToken(ctx, adm, first.AccountID, first.TokenID), node.ENotFound)
}

func TestDisabledAccountIsRefusedAtOnceAndTheLastAdminCannotBeDisabled(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	adm := admin(t, n)
	op := newAccount(t, n, adm, "wang.wei", node.AccountOperator)
	spare, err := n.CreateAccountToken(ctx, adm, op.AccountID, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	authenticateTwice(t, n, op.Token)
	authenticateTwice(t, n, spare.Token)

	if err := n.DisableAccount(ctx, adm, "wang.wei"); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, n, op.Token)
	wantUnauthorized(t, n, spare.Token)
	_, err = n.CreateAccountToken(ctx, adm, "wang.wei", "", 0)
	wantCode(t, err, node.EConflict)
	_, err = n.CreateAccount(ctx, adm, "Wang.Wei", node.AccountOperator, "")
	wantCode(t, err, node.EConflict) // names are never reused

	wantCode(t, n.DisableAccount(ctx, adm, daemon.DefaultAdmin), node.EConflict)
	if _, err := n.Authenticate(ctx, mustToken(t, n, adm)); err != nil {
		t.Fatalf("the refused disable broke the admin: %v", err)
	}
}

// mustToken mints another token for p's account.
func mustToken(t *testing.T, n *node.Node, p node.Principal) string {
	t.Helper()
	tok, err := n.CreateAccountToken(context.Background(), p, p.AccountID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// An expired token is refused at its expiry, even while the cache would
// still hold it (the cache keeps a token no later than its expiry).
func TestExpiredOperatorTokenIsRefusedEvenWhenCached(t *testing.T) {
	clock := &testClock{now: time.Now()}
	n := startNodeAt(t, clock).Node
	ctx := context.Background()
	adm := admin(t, n)
	tok, err := n.CreateAccountToken(ctx, adm, daemon.DefaultAdmin, "short", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expires.Equal(clock.Now().Add(time.Minute).UTC()) {
		t.Fatalf("expires %v, want a minute from now", tok.Expires)
	}
	clock.Add(time.Minute - time.Second)
	authenticateTwice(t, n, tok.Token) // cached now, for up to the cache's TTL (> 1s)
	clock.Add(time.Second)
	wantUnauthorized(t, n, tok.Token)

	_, err = n.CreateAccountToken(ctx, adm, daemon.DefaultAdmin, "", n.Settings().Tokens.OperatorLifetime+time.Hour)
	wantCode(t, err, node.EInvalid)
	list, err := n.Accounts(ctx, adm)
	if err != nil {
		t.Fatal(err)
	}
	var expired []string
	for _, at := range list[0].Tokens {
		if at.Expired {
			expired = append(expired, at.ID)
		}
	}
	if len(expired) != 1 || expired[0] != tok.TokenID {
		t.Fatalf("expired tokens listed: %v, want [%s]", expired, tok.TokenID)
	}
}

// twoOperators starts a node with an admin and two operator accounts,
// li.na (mine, op is its principal) and zhao.lei (other).
func twoOperators(t *testing.T) (n *node.Node, adm, op node.Principal, mine, other node.NewAccountToken) {
	t.Helper()
	n = startNode(t).Node
	adm = admin(t, n)
	mine = newAccount(t, n, adm, "li.na", node.AccountOperator)
	other = newAccount(t, n, adm, "zhao.lei", node.AccountOperator)
	op, err := n.Authenticate(context.Background(), mine.Token)
	if err != nil {
		t.Fatal(err)
	}
	return n, adm, op, mine, other
}

// An operator who is no admin gets one answer for another account's
// tokens whether the account exists or not, so that trying names does not
// tell them which accounts there are; an admin, who lists them all, is
// told that a name is unknown.
func TestAnOperatorCannotTellWhetherAnotherAccountExists(t *testing.T) {
	ctx := context.Background()
	n, adm, op, _, other := twoOperators(t)
	exists := n.RevokeAccountToken(ctx, op, "zhao.lei", other.TokenID)
	wantCode(t, exists, node.EAdminRequired)
	for _, ref := range []string{"no.such.person", other.AccountID + "x", "ac_nobody"} {
		if err := n.RevokeAccountToken(ctx, op, ref, other.TokenID); err == nil || err.Error() != exists.Error() {
			t.Errorf("an operator revoking a token of unknown account %q: %v; want the answer for an existing one: %v", ref, err, exists)
		}
	}
	wantCode(t, n.RevokeAccountToken(ctx, adm, "no.such.person", other.TokenID), node.ENotFound)
}

func TestOnlyAnAdminManagesAccounts(t *testing.T) {
	ctx := context.Background()
	n, adm, op, mine, other := twoOperators(t)
	_, err := n.CreateAccount(ctx, op, "mallory", node.AccountAdmin, "")
	wantCode(t, err, node.EAdminRequired)
	_, err = n.CreateAccountToken(ctx, op, "li.na", "", 0)
	wantCode(t, err, node.EAdminRequired)
	wantCode(t, n.DisableAccount(ctx, op, "zhao.lei"), node.EAdminRequired)
	wantCode(t, n.RevokeAccountToken(ctx, op, "zhao.lei", other.TokenID), node.EAdminRequired)
	_, err = n.CreateAccount(ctx, node.Principal{Role: node.RoleScanner, ScannerID: "sc"}, "x", node.AccountOperator, "")
	wantCode(t, err, node.EForbidden)

	list, err := n.Accounts(ctx, op)
	if err != nil || len(list) != 1 || list[0].Name != "li.na" || len(list[0].Tokens) != 1 {
		t.Fatalf("an operator lists %+v, %v; want only their own account", list, err)
	}
	if all, err := n.Accounts(ctx, adm); err != nil || len(all) != 3 {
		t.Fatalf("an admin lists %d accounts, %v; want 3", len(all), err)
	}
	if err := n.RevokeAccountToken(ctx, op, "li.na", mine.TokenID); err != nil {
		t.Fatalf("an operator revoking their own token: %v", err)
	}
	wantUnauthorized(t, n, mine.Token)

	for _, bad := range []string{"", "ac_x", "AC_x", "-lead", "a b", "a:b", "张伟", string(make([]byte, 65))} {
		_, err := n.CreateAccount(ctx, adm, bad, node.AccountOperator, "")
		wantCode(t, err, node.EInvalid)
	}
	_, err = n.CreateAccount(ctx, adm, "ok", "root", "")
	wantCode(t, err, node.EInvalid)
}

func TestTwoOperatorsAreAuditedUnderTheirOwnNames(t *testing.T) {
	d := startNode(t)
	n, ctx := d.Node, context.Background()
	adm := admin(t, n)
	var subjects []string
	for i, name := range []string{"li.na", "wang.wei"} {
		p, err := n.Authenticate(ctx, newAccount(t, n, adm, name, node.AccountOperator).Token)
		if err != nil {
			t.Fatal(err)
		}
		e, err := n.Enrol(ctx, p, node.Enrolment{Name: "张三", IDNumber: idNumber(i),
			Consent: node.ConsentInput{NoticeVersion: n.Settings().Privacy.NoticeVersion, Accepted: true}})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.SetStatus(ctx, p, e.ID, "yellow", "test"); err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, e.ID)
	}
	for _, action := range []string{"subject.enrol", "subject.status"} {
		entries := auditOf(t, d, action)
		if len(entries) != 2 {
			t.Fatalf("%s: %d entries, want 2", action, len(entries))
		}
		for i, who := range []string{"operator:li.na", "operator:wang.wei"} {
			if entries[i].Actor != who || entries[i].Target != subjects[i] {
				t.Errorf("%s by %s: entry %+v", action, who, entries[i])
			}
		}
	}
	var creators []string
	for _, e := range auditOf(t, d, "account.create") {
		creators = append(creators, e.Actor)
	}
	sort.Strings(creators)
	if want := fmt.Sprint([]string{"admin:admin", "admin:admin", "system"}); fmt.Sprint(creators) != want {
		t.Fatalf("account.create actors %v, want %s", creators, want)
	}
}

// A node initialised before accounts existed keeps its operator token:
// migration 0008 gives it to an admin account named "init", and 0012
// lists it among the tokens issued before tokens carried a check.
func TestOperatorTokenFromBeforeAccountsKeepsWorking(t *testing.T) {
	cfg := config.Default("440000")
	cfg.DataDir, cfg.Listen, cfg.NATS.Listen = filepath.Join(t.TempDir(), "440000"), "127.0.0.1:0", "127.0.0.1:0"
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	oldToken := randomToken(t, 32) // of the form before tokens carried a check: listed by migration 0013
	hash := node.HashToken(oldToken)
	writeSchema7WithOperatorToken(t, cfg.DBPath(), hash)
	if _, err := daemon.Init(context.Background(), cfg); err != nil {
		t.Fatalf("init over the old database: %v", err)
	}
	d := startInitialised(t, cfg, nil)
	p, err := d.Node.Authenticate(context.Background(), oldToken)
	if err != nil || p.Account != "init" || !p.Admin {
		t.Fatalf("old operator token = %+v, %v; want the init admin", p, err)
	}
	enrolled := enrol(t, d.Node, 1)
	if err := d.Node.SetStatus(context.Background(), p, enrolled.ID, "red", "test"); err != nil {
		t.Fatal(err)
	}
	if e := auditOf(t, d, "subject.status"); len(e) != 1 || e[0].Actor != "admin:init" {
		t.Fatalf("audit %+v, want one entry by admin:init", e)
	}
}

// writeSchema7WithOperatorToken writes a database as migrations 0001 to
// 0007 left it, holding one operator token of an old init.
func writeSchema7WithOperatorToken(t *testing.T, path string, hash []byte) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := filepath.Glob("store/migrations/000[1-7]_*.sql")
	if err != nil || len(files) != 7 {
		t.Fatalf("migrations 1-7: %v, %v", files, err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`}
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body), fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, i+1, filepath.Base(f)))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%.60s: %v", s, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO tokens (hash, role, label, created) VALUES (?, 'operator', 'init', ?)`, hash, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
}
