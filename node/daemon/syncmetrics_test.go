package daemon_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// TestWhatWaitsAtANodeIsOnItsMetrics: what a node holds back, waiting
// for a keyset or a snapshot, was counted only in federation.SyncStats,
// which no operator sees. The gauges are on /metrics, at 0 from the
// start, and a province blocked by a delta of a key its keyset does not
// list (a member's, or anyone's who can publish on its subject) shows.
func TestWhatWaitsAtANodeIsOnItsMetrics(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces[:2], nil)
	gauges := []string{"hcfed_federation_pending_statements", "hcfed_federation_parked_revocations",
		"hcfed_federation_blocked_provinces", "hcfed_federation_snapshots_behind_pointer_total"}
	for _, g := range gauges {
		f.waitMetricValue(1, g, "0")
	}
	waitFor(t, "Shanghai holding Guangdong's keyset", func() error {
		if f.c.Nodes[1].Node.State().Keyset("440000") == nil {
			return errors.New("not yet")
		}
		return nil
	})

	// A delta of Guangdong's next seq, signed by a key no keyset lists:
	// it may be the first of a rotation whose keyset is on its way, so it
	// waits (up to federation.DefaultKeysetWait), and Guangdong with it.
	rogue, err := trust.NewStatementSigner(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	seq := f.c.Nodes[1].Node.State().RevocationSeq("440000") + 1
	raw, err := rogue.Sign(trust.TypRevocation, trust.Revocation{Issuer: "440000", Seq: seq, IssuedAt: time.Now().Unix(),
		Entries: []trust.RevocationEntry{{JTI: base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef")),
			Expires: time.Now().Add(time.Hour).Unix()}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := operatorConn(t, f.c).PublishRevocation(t.Context(), "440000", seq, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	f.waitMetricValue(1, "hcfed_federation_blocked_provinces", "1")
	f.waitMetricValue(1, "hcfed_federation_parked_revocations", "1")
}
