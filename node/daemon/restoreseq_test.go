package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/daemon"
)

// restoreOffline stops province i, puts the node.db copy at backup in
// place of its database and starts it again cut off from NATS: it serves
// its API, but cannot reconcile with the federation yet.
func (f *fedTest) restoreOffline(i int, backup string) (good []string) {
	f.t.Helper()
	f.putBackup(i, backup)
	good = f.c.Configs[i].NATS.URLs
	f.restartWithNATS(i, unreachableNATS)
	return good
}

// TestStatusSetBeforeARestoredNodeReconcilesReachesEveryPeer: a node
// restored from a backup starts, but its NATS is not reachable yet (a
// restore follows a disaster), and the operators go on working: a
// resident is set red, and the revocation is committed under the next
// seq of the backup's outbox. Every peer already holds that seq — the
// province published it after the backup — so once the node reconciled,
// its revocation had to be moved above the federation's seqs, and the
// statement the federation holds under that seq adopted. Reconciliation
// skipped every statement at or below the database's last seq, the new
// one included: peers skipped the red resident's revocation as already
// held (their code stayed ok everywhere), and the home node never took
// back the revocation published under that seq after the backup.
func TestStatusSetBeforeARestoredNodeReconcilesReachesEveryPeer(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	const home = 0
	before, beforeCode := f.enrolAndIssue(home, "留守", testkit.IDNumber("440106199001", 1))
	backup := f.backup(home)
	// After the backup: a revocation every node holds, under the seq
	// next to the backup's.
	late, lateCode := f.enrolAndIssue(home, "晚到", testkit.IDNumber("440106199001", 2))
	f.setStatus(home, late, "red")
	for i := range f.c.Nodes {
		f.eventually(i, lateCode, "revoked")
	}

	good := f.restoreOffline(home, backup)
	f.setStatus(home, before, "red") // committed under the backup's next seq
	f.c.Configs[home].NATS.URLs = good
	f.restartReconciled(home)

	for _, i := range []int{1, 2, home} {
		f.eventually(i, beforeCode, "revoked")
		f.eventually(i, lateCode, "revoked")
	}
}

// TestRestoredNodeWhoseLaterStatementsLeftTheStreamNumbersAboveThePeers:
// the stream keeps a revocation for a code's longest life and a day, and
// one lost and created again keeps none (the test deletes it). A node restored from a backup
// older than that took back nothing, and numbered its next revocations
// from the backup's seq, which every peer already held: they skipped
// each one as held, silently (a resident set red after the restore
// verified ok everywhere else), and its heartbeats, naming a seq peers
// held, kept its revocations current there. The node now continues above
// the seq its latest heartbeat or snapshot in the federation names.
func TestRestoredNodeWhoseLaterStatementsLeftTheStreamNumbersAboveThePeers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces, Republish: 200 * time.Millisecond})
	const home = 0
	province := f.c.Configs[home].Province
	backup := f.backup(home)
	// After the backup: revocations every node holds, and a heartbeat
	// naming their seq.
	for n := range 3 {
		late, lateCode := f.enrolAndIssue(home, "晚到", testkit.IDNumber("440106199001", 10+n))
		f.setStatus(home, late, "red")
		f.eventually(1, lateCode, "revoked")
	}
	after := time.Now()
	testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, "a heartbeat of the home node after its revocations", func() error {
		if at := f.c.Nodes[1].Node.State().RevocationsAsOf(province); !at.After(after) {
			return fmt.Errorf("Shanghai holds Guangdong's revocations as of %v", at)
		}
		return nil
	})
	// They leave the stream: the stream is lost (and created again), as
	// they would age out of it after streamMaxAge.
	if err := rawJetStream(t, f).DeleteStream(ctx, "HCFED_demo_REV"); err != nil {
		t.Fatal(err)
	}

	f.restore(home, backup)
	next, nextCode := f.enrolAndIssue(home, "新人", testkit.IDNumber("440106199001", 20))
	for i := range f.c.Nodes {
		f.eventually(i, nextCode, "ok")
	}
	f.setStatus(home, next, "red")
	for _, i := range []int{1, 2, home} {
		f.eventually(i, nextCode, "revoked")
	}
}
