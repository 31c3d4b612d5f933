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

// TestAccessServesScannersAndAccountsWithoutANode pins the carve: the
// access service owns its state and needs only a database, a clock and a
// random source — no Node — to bootstrap an admin, register a scanner,
// resolve both tokens, refuse a removed scanner's cached token at once,
// and rate-limit a scanner.
func TestAccessServesScannersAndAccountsWithoutANode(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Unix(1_800_000_000, 0)
	settings := config.Default("440000")
	a := newAccess(db, settings, testTokenCheck(t), NewMetrics(), func() time.Time { return now }, rand.Reader)

	minted, err := a.bootstrapAdmin(ctx, "admin", "test")
	if err != nil {
		t.Fatal(err)
	}
	if !minted.Expires.Equal(now.Add(settings.Tokens.OperatorLifetime)) {
		t.Fatalf("admin token expires %v, want now + tokens.operator_lifetime", minted.Expires)
	}
	admin, err := a.authenticate(ctx, minted.Token)
	if err != nil || !admin.Admin || admin.Account != "admin" {
		t.Fatalf("admin token resolved to %+v, %v", admin, err)
	}

	sc, err := a.addScanner(ctx, admin, "gate", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.authenticate(ctx, sc.Token) // now cached
	if err != nil || p.Role != RoleScanner || p.ScannerID != sc.ID || p.Place != "checkpoint" {
		t.Fatalf("scanner token resolved to %+v, %v", p, err)
	}
	for i := range settings.Limits.ScannerBurst {
		if err := a.admitScan(sc.ID, now); err != nil {
			t.Fatalf("verification %d of a burst of %d refused: %v", i+1, settings.Limits.ScannerBurst, err)
		}
	}
	if code := ErrorCodeOf(a.admitScan(sc.ID, now)); code != ERateLimited {
		t.Fatalf("verification past the burst: %q, want %q", code, ERateLimited)
	}

	if err := a.removeScanner(ctx, admin, sc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.authenticate(ctx, sc.Token); ErrorCodeOf(err) != EUnauthorized {
		t.Fatalf("removed scanner's cached token: %v, want %q", err, EUnauthorized)
	}
}
