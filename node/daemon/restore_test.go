package daemon_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// TestBackupTakenWhileServingRestoresToANodePeersStillFollow takes an
// online backup of a province while it issues and revokes codes, keeps
// going after the backup, then restores the backup and checks that the
// restored node verifies every code issued before the backup, refuses
// every code revoked before it and also those revoked after it (taken
// back from the federation), uses no revocation seq twice, and that its
// peers accept its next revocation and keyset.
func TestBackupTakenWhileServingRestoresToANodePeersStillFollow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := startFederation(t, threeProvinces, func(c *config.Config) { c.Limits.ResidentRate, c.Limits.ResidentBurst = 1000, 1000 })
	const home = 0
	var valid, revoked []string // issued before the backup: left valid, revoked
	// Before the backup: some codes stay valid, some are revoked.
	for i := range 6 {
		subject, code := f.enrolAndIssue(home, fmt.Sprintf("居民%d", i), testkit.IDNumber("440106199001", i))
		if i%2 == 0 {
			f.setStatus(home, subject, "red")
			revoked = append(revoked, code)
		} else {
			valid = append(valid, code)
		}
	}
	// A resident whose code the backup holds live, revoked after it.
	kept, keptCode := f.enrolAndIssue(home, "留守", testkit.IDNumber("440106199001", 9002))
	keptBefore := residentRecord(t, f, home, kept)
	if len(keptBefore.LiveCodes) != 1 {
		t.Fatalf("the resident's live codes before the backup: %v, want their one code", keptBefore.LiveCodes)
	}
	// While the backup is taken, the node keeps issuing and revoking.
	stop := make(chan struct{})
	var busy sync.WaitGroup
	var churned atomic.Int64
	busy.Go(func() {
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			subject, _ := f.enrolAndIssue(home, "过客", testkit.IDNumber("440106199001", i))
			f.setStatus(home, subject, "yellow")
			churned.Add(1)
		}
	})
	backup := filepath.Join(t.TempDir(), "node.db")
	testkit.WaitFor(t, 10*time.Second, time.Millisecond, "some churn before the backup", func() error {
		if churned.Load() == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	if err := store.Backup(ctx, f.c.Configs[home].DBPath(), backup); err != nil {
		t.Fatal(err)
	}
	close(stop)
	busy.Wait()
	_, seqAtBackup, err := store.CheckBackup(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}

	// After the backup: a code is revoked; the backup does not know it.
	lateSubject, lateCode := f.enrolAndIssue(home, "晚到", testkit.IDNumber("440106199001", 9000))
	f.setStatus(home, lateSubject, "red")
	f.setStatus(home, kept, "red")
	for i := range f.c.Nodes {
		f.eventually(i, lateCode, "revoked")
		f.eventually(i, keptCode, "revoked")
	}
	seqBeforeRestore := f.c.Nodes[home].Node.State().RevocationSeq(f.c.Configs[home].Province)
	if seqBeforeRestore <= seqAtBackup {
		t.Fatalf("seq %d after the backup's %d: nothing was revoked after the backup", seqBeforeRestore, seqAtBackup)
	}

	// Restore the backup in place of the stopped node's database.
	f.restore(home, backup)
	for i := range f.c.Nodes {
		for _, c := range valid {
			f.eventually(i, c, "ok")
		}
		for _, c := range revoked {
			f.eventually(i, c, "revoked")
		}
		// Revoked after the backup: taken back from the federation.
		f.eventually(i, lateCode, "revoked")
	}
	// Back at the status the backup holds, set at the same time: a wallet
	// that last read the record before the status change sees no status
	// move, and only live_codes tells it that the code it shows is dead.
	keptAfter := residentRecord(t, f, home, kept)
	if keptAfter.Status != keptBefore.Status || !keptAfter.StatusSince.Equal(keptBefore.StatusSince) {
		t.Fatalf("restored status %s since %v, want the backup's %s since %v: this checks nothing",
			keptAfter.Status, keptAfter.StatusSince, keptBefore.Status, keptBefore.StatusSince)
	}
	if slices.Contains(keptAfter.LiveCodes, keptBefore.LiveCodes[0]) {
		t.Errorf("the restored record lists code %s, revoked after the backup, among the resident's live codes %v",
			keptBefore.LiveCodes[0], keptAfter.LiveCodes)
	}
	last, err := f.c.Nodes[home].DB.LastRevocationSeq(ctx)
	if err != nil || last < seqBeforeRestore {
		t.Fatalf("restored node's last revocation seq %d (%v), the federation had %d", last, err, seqBeforeRestore)
	}

	// The restored node's next revocation and a new code reach its peers.
	next, nextCode := f.enrolAndIssue(home, "新人", testkit.IDNumber("440106199001", 9001))
	for i := range f.c.Nodes {
		f.eventually(i, nextCode, "ok")
	}
	f.setStatus(home, next, "red")
	for i := range f.c.Nodes {
		f.eventually(i, nextCode, "revoked")
	}
	if got := f.c.Nodes[home].Node.State().RevocationSeq(f.c.Configs[home].Province); got <= seqBeforeRestore {
		t.Fatalf("a new revocation got seq %d, at or below the federation's %d: a seq was used twice", got, seqBeforeRestore)
	}
}

// residentRecord reads subject's record at province i as the resident
// reads it.
func residentRecord(t *testing.T, f *fedTest, i int, subject string) node.Record {
	t.Helper()
	r, err := f.c.Nodes[i].Node.SubjectRecord(context.Background(), node.Principal{Role: node.RoleResident, SubjectID: subject}, subject)
	if err != nil {
		t.Fatalf("the resident's record: %v", err)
	}
	return r
}

// restore stops province i, puts the node.db copy at backup in place of
// its database, starts it again and waits until it has reconciled with
// the federation.
func (f *fedTest) restore(i int, backup string) {
	f.t.Helper()
	f.putBackup(i, backup)
	f.restartReconciled(i)
}

// backup takes an online backup of province i's database into a new
// directory and returns the copy's path.
func (f *fedTest) backup(i int) string {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), "node.db")
	if err := store.Backup(context.Background(), f.c.Configs[i].DBPath(), path); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// putBackup stops province i and puts the node.db copy at backup in place
// of its database.
func (f *fedTest) putBackup(i int, backup string) {
	f.t.Helper()
	if err := f.c.Stop(i); err != nil {
		f.t.Fatal(err)
	}
	if _, err := store.Restore(context.Background(), backup, "", f.c.Configs[i].DBPath(), "test", store.RestoreOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// restartReconciled starts province i again and waits until it has
// reconciled its restored database with the federation.
func (f *fedTest) restartReconciled(i int) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.c.Restart(ctx, i); err != nil {
		f.t.Fatal(err)
	}
	testkit.WaitFor(f.t, 15*time.Second, 10*time.Millisecond, "the restored node to reconcile", func() error {
		if _, err := f.c.Nodes[i].DB.GetMeta(ctx, store.Restored); err == nil {
			return fmt.Errorf("still marked restored")
		}
		return nil
	})
}
