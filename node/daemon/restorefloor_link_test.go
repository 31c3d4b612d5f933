package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/trust"
)

// TestRestoreFromTheFederationsSnapshotKeepsALinkReplacedBeforeTheBackup:
// a resident lost their phone and was given a new wallet link; the
// replacement's revocation carries a link marker, live for a phone code's
// lifetime. A backup is taken after it, the province revokes more, and
// the revocation stream is lost. Restored, the node adopts the
// federation's latest snapshot (above its own seq), which lists every
// live revocation: the marker of the replacement before the backup among
// them. Reconciliation took it for a replacement made after the backup
// and revoked every link of that resident from before the restore: the
// new link, the one the backup holds and the resident uses, stopped
// working. A marker the restored database already holds names a link it
// already replaced.
func TestRestoreFromTheFederationsSnapshotKeepsALinkReplacedBeforeTheBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := startFederationWith(t, daemon.ClusterConfig{Provinces: threeProvinces[:2], Republish: 200 * time.Millisecond})
	const home, peer = 0, 1
	province := f.c.Configs[home].Province
	card := testkit.IDNumber("440106199005", 1)
	id, _ := f.enrolResident(home, "换机早", card)
	var link struct {
		Token string `json:"resident_token"`
	}
	f.mustCall(home, "POST", "/v1/subjects/"+id+"/token", f.c.Tokens[home], map[string]string{"id_number": card}, &link, 201)
	f.waitMetricValue(home, "hcfed_revocation_outbox_pending", "0")
	backup := f.backup(home)

	// After the backup: a revocation, and a snapshot at its seq (a node
	// publishes one as it starts).
	late, lateCode := f.enrolAndIssue(home, "晚到", testkit.IDNumber("440106199005", 2))
	f.setStatus(home, late, "red")
	f.eventually(peer, lateCode, "revoked")
	f.waitMetricValue(home, "hcfed_revocation_outbox_pending", "0")
	last, err := f.c.Nodes[home].DB.LastRevocationSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.Restart(ctx, home); err != nil {
		t.Fatal(err)
	}
	conn := operatorConn(t, f.c)
	testkit.WaitFor(t, 15*time.Second, 20*time.Millisecond, "a snapshot of the home province at its last seq", func() error {
		raw, err := conn.GetSnapshot(ctx, province)
		if err != nil {
			return err
		}
		snap, err := trust.ParseRevocationSnapshot(raw, province, f.c.Nodes[peer].Node.State().Snapshot().Keys[province])
		if err != nil {
			return err
		}
		if snap.Seq < last {
			return fmt.Errorf("snapshot at seq %d, want %d", snap.Seq, last)
		}
		return nil
	})
	if err := rawJetStream(t, f).DeleteStream(ctx, "HCFED_demo_REV"); err != nil {
		t.Fatal(err)
	}

	f.restore(home, backup)
	if st := f.call(home, "GET", "/v1/subjects/"+id, link.Token, nil, nil); st != http.StatusOK {
		t.Errorf("the resident's wallet link, replaced before the backup, after a restore from the snapshot: HTTP %d, want 200", st)
	}
	if st := f.call(home, "POST", "/v1/subjects/"+id+"/codes", link.Token, nil, nil); st != http.StatusCreated {
		t.Errorf("a code for that link after the restore: HTTP %d, want 201", st)
	}
}
