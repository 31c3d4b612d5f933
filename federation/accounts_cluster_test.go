package federation

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// The production topology: one account per province, generated from the
// member list, on a 3-server cluster with every asset R3. A revocation
// published before a server is killed and one published while it is down
// both reach the other provinces through their accounts' copies, and the
// killed server's replicas of a province's own stream and of a reader's
// copy catch up when it returns. The second revocation reaches the copies
// only once the server has set their sources up again on the own
// stream's new leader: nats-server checks a source's health every 10 s
// and then retries with a backoff up to 2 minutes, so this took 3.7 to
// 19.9 s in five runs. No node watches its sources here (and Kill hands
// leadership over); sourcewatch_test.go bounds the worst case with
// WatchSources and a crash (see docs/design-changes.md, "NATS cluster").
func TestAccountsOnAThreeServerClusterR3KeepFlowingWithAServerKilled(t *testing.T) {
	natstest.SkipFailoverInShortRun(t)
	t.Parallel()
	fx := newFixture(t)
	ac := startAccountsCluster(t, []string{gd, sh, bj})
	nc, ctx, conn := ac.nc, t.Context(), ac.conn
	gdc, shc, bjv := conn(gd, RoleNode), conn(sh, RoleNode), conn(bj, RoleVerifier)
	for _, c := range []*Conn{gdc, shc, bjv} {
		if err := c.EnsureStreams(ctx); err != nil {
			t.Fatalf("%s: the R3 assets the admin made: %v", c.Province(), err)
		}
	}
	var atSH, atBJ recorder[RevocationMsg]
	for c, r := range map[*Conn]*recorder[RevocationMsg]{shc: &atSH, bjv: &atBJ} {
		if err := c.ConsumeRevocations(ctx, 0, func(m RevocationMsg) error { r.add(m); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := gdc.PublishRevocation(ctx, gd, 1, fx.revocation(gd, 1)); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	atSH.waitLen(t, 1)
	atBJ.waitLen(t, 1)

	own := ownStreamName(testFed, gd)
	leader := nc.StreamLeader(accountName(gd), own)
	if leader < 0 {
		t.Fatalf("%s's own stream has no leader", gd)
	}
	nc.Kill(leader)
	// Like a node's outbox: each attempt bounded (an ack lost in the
	// election is never answered), retried until a new leader takes it.
	start := time.Now()
	testkit.WaitFor(t, 60*time.Second, 100*time.Millisecond, "a revocation published with a server killed", func() error {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return gdc.PublishRevocation(actx, gd, 2, fx.revocation(gd, 2))
	})
	t.Logf("published %v after the kill", time.Since(start))
	// Up to 2 minutes of nats-server's source retry backoff (see the e2e
	// test's failoverWithin).
	for _, r := range []*recorder[RevocationMsg]{&atSH, &atBJ} {
		if got := r.waitLenWithin(t, 2, 150*time.Second); got[1].Province != gd {
			t.Fatalf("second revocation from %s, want %s", got[1].Province, gd)
		}
	}
	t.Logf("arrived %v after the kill", time.Since(start))
	nc.Restart(leader)
	nc.WaitStreamsCurrent(accountName(gd), own)
	nc.WaitStreamsCurrent(accountName(sh), streamName(testFed))
	t.Logf("caught up %v after the kill", time.Since(start))
}

// accountsCluster is a federation in accounts mode on natstest's 3-server
// cluster, every asset R3, set up by SetupAccounts with the generated seeds.
type accountsCluster struct {
	t   *testing.T
	nc  *natstest.Cluster
	dir string
}

// startAccountsCluster generates the accounts configuration of members,
// starts the cluster on it (ports and routes stay the harness's) and
// creates every account's R3 assets.
func startAccountsCluster(t *testing.T, members []string) *accountsCluster {
	t.Helper()
	_, dir, conf := writeGenerated(t, members, AccountsOptions{Federation: testFed, Replicas: 3})
	nc := natstest.Start(t, natstest.Config{Configure: func(_ int, o *server.Options) {
		var g server.Options // the generated accounts, users and quotas; ports and cluster stay the harness's
		if err := g.ProcessConfigFile(conf); err != nil {
			t.Errorf("generated config: %v", err)
			return
		}
		o.Accounts, o.Nkeys, o.Users, o.SystemAccount, o.NoAuthUser = g.Accounts, g.Nkeys, g.Users, g.SystemAccount, g.NoAuthUser
	}})
	// Idempotent; retried because a loaded machine can take longer than
	// its request timeout to create an R3 stream on a fresh cluster.
	testkit.WaitFor(t, 2*natstest.LeaderTimeout, 100*time.Millisecond, "SetupAccounts on the cluster", func() error {
		return SetupAccounts(t.Context(), SetupConfig{URLs: nc.ClientURLs(), Federation: testFed, Members: members,
			SeedDir: dir, Replicas: 3})
	})
	return &accountsCluster{t: t, nc: nc, dir: dir}
}

// conn connects to the cluster as province p's user in role, closed at
// the end of the test.
func (ac *accountsCluster) conn(p, role string) *Conn {
	ac.t.Helper()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(cctx, ConnConfig{URLs: ac.nc.ClientURLs(), Federation: testFed, Province: p, Replicas: 3,
		Isolation: IsolationAccounts, NKeySeedFile: filepath.Join(ac.dir, SeedFile(p, role))})
	if err != nil {
		ac.t.Fatalf("connect %s as %s: %v", p, role, err)
	}
	ac.t.Cleanup(c.Close)
	return c
}
