package federation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAccountsOnlyTheAdminCreatesAnAccountsAssets(t *testing.T) {
	t.Parallel()
	members := []string{gd, sh}
	gen, dir, conf := writeGenerated(t, members, AccountsOptions{Federation: testFed})
	if strings.Contains(string(gen.Config), string(gen.Seeds[0].Seed)) {
		t.Fatal("the server configuration holds a seed")
	}
	f := &accountsFed{s: runServerWith(t, ServerConfig{ConfigFile: conf}), dir: dir, members: members}
	ctx := testCtx(t)
	// gd's node, even told the members, may not create its account's assets.
	node := f.conn(t, gd, RoleNode, func(c *ConnConfig) { c.Members = members })
	if err := node.EnsureStreams(ctx); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("EnsureStreams by gd's node before setup: %v, want permission denied", err)
	}
	if err := f.node(t, gd).EnsureStreams(ctx); !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), "nats-setup") {
		t.Fatalf("EnsureStreams (check only) before setup: %v, want missing and denied", err)
	}
	if err := SetupAccounts(ctx, SetupConfig{URLs: []string{f.s.ClientURL()}, Federation: testFed, Members: members, SeedDir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Conn{f.node(t, gd), f.conn(t, sh, RoleVerifier), node} {
		if err := c.EnsureStreams(ctx); err != nil {
			t.Fatalf("EnsureStreams by %s after setup: %v", c.Province(), err)
		}
	}
	// What the admin created is what it would create: a second setup
	// changes nothing.
	admin := f.conn(t, sh, RoleAdmin)
	assets, err := admin.accountAssets(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assets {
		s, err := admin.js.Stream(ctx, a.stream)
		if err != nil {
			t.Fatal(err)
		}
		if d := a.drift(s.CachedInfo().Config); len(d) != 0 {
			t.Errorf("%s drifted from what setup made: %v", a.stream, d)
		}
	}
}

func TestAccountsNewMemberGetsSourcedAndKeepsEveryonesSeeds(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	members := []string{gd, sh}
	dir, store := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "nats-server.conf")
	start := func(members []string) *Server {
		keep, err := ReadSeeds(dir, members)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := GenerateServerConfig(members, AccountsOptions{Federation: testFed, Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, gen.Config, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteSeeds(dir, gen, false); err != nil {
			t.Fatal(err)
		}
		s := runServerWith(t, ServerConfig{ConfigFile: conf, StoreDir: store})
		if err := SetupAccounts(testCtx(t), SetupConfig{URLs: []string{s.ClientURL()}, Federation: testFed, Members: members, SeedDir: dir}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start(members)
	gdSeed, err := os.ReadFile(filepath.Join(dir, SeedFile(gd, RoleNode)))
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()

	members = append(members, bj)
	f := &accountsFed{s: start(members), dir: dir, members: members}
	if again, _ := os.ReadFile(filepath.Join(dir, SeedFile(gd, RoleNode))); !bytes.Equal(again, gdSeed) {
		t.Fatal("gd's seed changed when bj joined")
	}
	ctx := testCtx(t)
	bjc, gdc := f.node(t, bj), f.node(t, gd)
	keyset := fx.keyset(bj, 1)
	put(t, bjc, bj+".keyset", keyset)
	publishRev(t, gdc, gd, 1, fx.revocation(gd, 1))
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		got, _, err := gdc.GetState(ctx, bj+".keyset")
		if err != nil || !bytes.Equal(got, keyset) {
			return fmt.Errorf("gd does not see bj's keyset: %v", err)
		}
		return nil
	})
	var got recorder[RevocationMsg]
	if err := bjc.ConsumeRevocations(ctx, 0, func(m RevocationMsg) error { got.add(m); return nil }); err != nil {
		t.Fatal(err)
	}
	if m := got.waitLen(t, 1)[0]; m.Province != gd {
		t.Fatalf("bj consumed a revocation of %s, want gd's", m.Province)
	}

	// Seeds are only replaced on purpose.
	other, err := GenerateServerConfig(members, AccountsOptions{Federation: testFed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSeeds(dir, other, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("WriteSeeds over other seeds: %v, want a refusal naming --force", err)
	}
}

// TestSetupAccountsNamesWhoItConnectedAs: a setup that cannot connect says
// as whom, "operator" or "admin <province>", with nothing dangling ("operator :").
func TestSetupAccountsNamesWhoItConnectedAs(t *testing.T) {
	t.Parallel()
	err := SetupAccounts(testCtx(t), SetupConfig{URLs: []string{"nats://127.0.0.1:1"}, Federation: testFed,
		Members: []string{gd, sh}, SeedDir: t.TempDir()})
	if err == nil || !strings.HasPrefix(err.Error(), "operator: nats nkey seed: ") {
		t.Fatalf("SetupAccounts without the operator's seed: %v, want it to begin %q", err, "operator: nats nkey seed: ")
	}
}
