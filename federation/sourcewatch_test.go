package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/nats-io/nats.go/jetstream"
)

// failoverArrival bounds how long a revocation published while a server
// is down may take to reach another province's copy when that province's
// node watches its sources (WatchSources): a stall of
// DefaultSourceStallAfter, at most one check interval to notice it, and a
// few seconds for the elections and the new leader's set-up. Without the
// watcher nats-server's source retry backoff can take up to 2 minutes.
const failoverArrival = 30 * time.Second

// The worst case of a server failure in accounts mode: one server leads
// both gd's own revocation stream and sh's copy of every province's
// revocations, and it is killed. sh's copy gets a new leader, whose first
// attempt to set up the source on gd's stream meets gd's own election; a
// failed attempt is retried by nats-server after a backoff (10 s a
// failure, up to 2 minutes). sh's node, watching its copy's sources, asks
// for a stepdown once the source is quiet for 15 s, and a revocation gd
// publishes with the server down reaches sh within failoverArrival.
func TestAccountsRevocationReachesAnotherProvinceSoonAfterTheServerLeadingItsCopyIsKilled(t *testing.T) {
	natstest.SkipFailoverInShortRun(t)
	t.Parallel() // waits on nats-server's timers: elections, the 15 s stall
	fx := newFixture(t)
	ac := startAccountsCluster(t, []string{gd, sh, bj})
	nc, ctx := ac.nc, t.Context()
	gdc, shc := ac.conn(gd, RoleNode), ac.conn(sh, RoleNode)
	watched := make(chan struct{})
	go func() { defer close(watched); shc.WatchSources(ctx, SourceWatch{}) }()
	t.Cleanup(func() { shc.Close(); <-watched })
	atSH := firstRevocationReaches(t, fx, gdc, shc)

	// One server leads both: gd's own stream moves to the leader of sh's copy.
	shCopy, gdOwn := streamName(testFed), ownStreamName(testFed, gd)
	x := nc.StreamLeader(accountName(sh), shCopy)
	if x < 0 {
		t.Fatalf("sh's copy has no leader")
	}
	moveLeader(t, ac, gd, gdOwn, x)
	nc.Crash(x)
	killed := time.Now()
	testkit.WaitFor(t, 60*time.Second, 100*time.Millisecond, "a revocation published with a server killed", func() error {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return gdc.PublishRevocation(actx, gd, 2, fx.revocation(gd, 2))
	})
	published := time.Since(killed)
	if got := atSH.waitLenWithin(t, 2, failoverArrival); got[1].Province != gd {
		t.Fatalf("second revocation from %s, want %s", got[1].Province, gd)
	}
	t.Logf("published %v after the kill, reached sh %v after the kill; stepdowns asked by sh's node: %d",
		published.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), shc.Stats().SourceStepdowns)
}

// The defect itself, made certain: an aggregate's leader sets a source up
// while the source's own stream is electing a leader. gd's own stream's
// leader crashes and sh's copy is at once stepped down by sh's admin; the
// copy's new leader asks for its sourcing consumer within a second, while
// gd's stream has no leader (the election takes at least 4 s). Nobody
// answers a sourcing-consumer request for a stream without a leader, and
// nats-server waits 30 s for the answer, then retries after 10 s more:
// without the watcher gd's revocation reaches sh after some 45 s. sh's
// node (WatchSources, the defaults) sees the source quiet for 15 s, steps
// the copy down once (counted), and the revocation arrives within
// failoverArrival.
func TestAccountsWatcherStepsDownACopyWhoseSourceSetUpWentUnanswered(t *testing.T) {
	natstest.SkipFailoverInShortRun(t)
	t.Parallel() // waits on nats-server's timers: elections, the 15 s stall
	fx := newFixture(t)
	ac := startAccountsCluster(t, []string{gd, sh, bj})
	nc, ctx := ac.nc, t.Context()
	gdc, shc, shAdmin := ac.conn(gd, RoleNode), ac.conn(sh, RoleNode), ac.conn(sh, RoleAdmin)
	atSH := firstRevocationReaches(t, fx, gdc, shc)
	// gd's own stream on one server, sh's copy on another.
	shCopy, gdOwn := streamName(testFed), ownStreamName(testFed, gd)
	y := nc.StreamLeader(accountName(sh), shCopy)
	if y < 0 {
		t.Fatal("sh's copy has no leader")
	}
	x := (y + 1) % 3
	moveLeader(t, ac, gd, gdOwn, x)
	watched := make(chan struct{})
	go func() { defer close(watched); shc.WatchSources(ctx, SourceWatch{}) }()
	t.Cleanup(func() { shc.Close(); <-watched })

	z := 3 - x - y // the third server: the copy's new leader at once, no election
	begin := time.Now()
	nc.Crash(x)
	crashed := time.Now()
	t.Logf("crash took %v", crashed.Sub(begin).Round(time.Millisecond))
	// Its connection may have been on the crashed server: retried.
	testkit.WaitFor(t, 10*time.Second, 50*time.Millisecond, "sh's admin steps the copy down", func() error {
		return shAdmin.StepDownStream(ctx, shCopy, nc.Name(z))
	})
	testkit.WaitFor(t, 60*time.Second, 100*time.Millisecond, "a revocation published with a server crashed", func() error {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return gdc.PublishRevocation(actx, gd, 2, fx.revocation(gd, 2))
	})
	atSH.waitLenWithin(t, 2, failoverArrival)
	n := shc.Stats().SourceStepdowns
	t.Logf("reached sh %v after the crash; stepdowns asked by sh's node: %d", time.Since(crashed).Round(time.Millisecond), n)
	// One per aggregate at most within DefaultSourceStepdownGap: the
	// state aggregate sources gd's bucket, whose leader may have been
	// on the crashed server too.
	if n < 1 || n > 2 {
		t.Fatalf("%d stepdowns by sh's node, want 1 or 2 (one per aggregate at most)", n)
	}
}

// The watcher's decisions, on an injected clock: a source heard from
// within StallAfter is fine; one quiet for StallAfter (by the server's
// Active) is stalled at once; one never heard from (Active -1) is
// stalled once the watcher has seen it so for StallAfter; after a
// stepdown the same aggregate waits StepdownGap, another does not.
func TestSourceWatcherCallsASourceStalledAfterStallAfterAndStepsDownOncePerGap(t *testing.T) {
	w := newSourceWatcher(nil, SourceWatch{StallAfter: 15 * time.Second, StepdownGap: time.Minute})
	t0 := time.Unix(1_700_000_000, 0)
	src := func(name string, active time.Duration) *jetstream.StreamSourceInfo {
		return &jetstream.StreamSourceInfo{Name: name, Active: active}
	}
	if got := w.stalled(t0, "REV", []*jetstream.StreamSourceInfo{src("A", time.Second), src("B", 14*time.Second)}); len(got) != 0 {
		t.Fatalf("sources heard from within StallAfter called stalled: %+v", got)
	}
	got := w.stalled(t0, "REV", []*jetstream.StreamSourceInfo{src("A", time.Second), src("B", 16*time.Second)})
	if len(got) != 1 || got[0].Source != "B" || got[0].Quiet != 16*time.Second {
		t.Fatalf("a source quiet for 16 s: %+v, want B stalled", got)
	}
	never := []*jetstream.StreamSourceInfo{src("A", time.Second), src("C", -1)}
	for _, d := range []time.Duration{0, 10 * time.Second, 14 * time.Second} {
		if got := w.stalled(t0.Add(d), "REV", never); len(got) != 0 {
			t.Fatalf("a source never heard from, seen so for %v, called stalled: %+v", d, got)
		}
	}
	if got := w.stalled(t0.Add(15*time.Second), "REV", never); len(got) != 1 || got[0].Source != "C" {
		t.Fatalf("a source never heard from for 15 s: %+v, want C stalled", got)
	}
	if !w.mayStepDown(t0, "REV") {
		t.Fatal("first stepdown refused")
	}
	w.attempted(t0.Add(15*time.Second), "REV")
	if got := w.stalled(t0.Add(16*time.Second), "REV", never); len(got) != 0 {
		t.Fatalf("after the stepdown a source never heard from is timed afresh, got %+v", got)
	}
	for at, want := range map[time.Duration]bool{30 * time.Second: false, 74 * time.Second: false, 75 * time.Second: true} {
		if got := w.mayStepDown(t0.Add(at), "REV"); got != want {
			t.Errorf("stepdown of the same aggregate %v after t0 (the last at 15 s): %v, want %v", at, got, want)
		}
	}
	if !w.mayStepDown(t0.Add(16*time.Second), "KV") {
		t.Error("another aggregate's stepdown held back by this one's")
	}
}

// A node's user may step down its own account's aggregates and nothing
// else; the verifier nothing. On one server a permitted stepdown is
// answered (clustering required), a forbidden one refused by the server.
func TestAccountsOnlyTheNodeMayStepDownItsOwnAggregates(t *testing.T) {
	f := runAccountsServer(t)
	ctx := testCtx(t)
	shc, shv := f.node(t, sh), f.conn(t, sh, RoleVerifier)
	for _, s := range []string{streamName(testFed), "KV_" + bucketName(testFed)} {
		err := shc.StepDownStream(ctx, s, "")
		if !errors.Is(err, ErrStepdown) || !strings.Contains(err.Error(), "cluster") {
			t.Errorf("node steps down its aggregate %s on one server: %v, want the server's answer that it needs a cluster", s, err)
		}
	}
	for who, c := range map[string]*Conn{"node": shc, "verifier": shv} {
		for _, s := range []string{ownStreamName(testFed, sh), "KV_" + ownBucketName(testFed, sh), "OBJ_" + ownSnapshotBucketName(testFed, sh)} {
			if err := c.StepDownStream(ctx, s, ""); !errors.Is(err, ErrPermissionDenied) {
				t.Errorf("%s steps down %s: %v, want permission denied", who, s, err)
			}
		}
		if who == "verifier" {
			if err := c.StepDownStream(ctx, streamName(testFed), ""); !errors.Is(err, ErrPermissionDenied) {
				t.Errorf("verifier steps down the aggregate: %v, want permission denied", err)
			}
		}
	}
	gen, _, _ := writeGenerated(t, f.members, AccountsOptions{Federation: testFed})
	n := 0
	for _, line := range strings.Split(string(gen.Config), "\n") {
		if strings.Contains(line, "LEADER.STEPDOWN") {
			n++
			if strings.ContainsAny(line, "*>") {
				t.Errorf("a wildcard stepdown permission: %s", strings.TrimSpace(line))
			}
		}
	}
	if want := 2 * len(f.members); n != want {
		t.Errorf("%d stepdown permissions in the configuration, want %d (two aggregates per node user)", n, want)
	}
}

// moveLeader makes server to lead owner's stream, with that account's
// admin asking for a stepdown with a preferred server.
func moveLeader(t *testing.T, ac *accountsCluster, owner, stream string, to int) {
	t.Helper()
	admin := ac.conn(owner, RoleAdmin)
	testkit.WaitFor(t, natstest.LeaderTimeout, 100*time.Millisecond, stream+" led by "+ac.nc.Name(to), func() error {
		l := ac.nc.StreamLeader(accountName(owner), stream)
		if l == to {
			return nil
		}
		if l >= 0 {
			if err := admin.StepDownStream(t.Context(), stream, ac.nc.Name(to)); err != nil {
				return err
			}
		}
		return fmt.Errorf("led by %d", l)
	})
	ac.nc.WaitStreamsCurrent(accountName(owner), stream)
}

// firstRevocationReaches has sh's node follow revocations and gd's node
// publish its first one, and returns what sh's node has received once
// that one has arrived: the sourcing works before a test breaks it.
func firstRevocationReaches(t *testing.T, fx *fixture, gdc, shc *Conn) *recorder[RevocationMsg] {
	t.Helper()
	var atSH recorder[RevocationMsg]
	if err := shc.ConsumeRevocations(t.Context(), 0, func(m RevocationMsg) error { atSH.add(m); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := gdc.PublishRevocation(t.Context(), gd, 1, fx.revocation(gd, 1)); err != nil {
		t.Fatalf("PublishRevocation: %v", err)
	}
	atSH.waitLen(t, 1)
	return &atSH
}
