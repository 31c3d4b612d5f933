package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"math"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// A node is restored from a backup taken before one of its signing keys
// was stolen and marked compromised in the keyset the federation holds.
// The backup holds that key as active, and reconciliation verified the
// statements it takes back (the stream's revocations, the latest
// heartbeat and snapshot) with the backup's keys over the federation's:
// whoever holds the stolen key could have the restored node adopt a
// revocation no peer accepts (holding its residents, deleting their
// wallet links) or a heartbeat naming a seq past what the outbox can
// hold, on which reconciliation fails, again and again, and the node
// never publishes. A key the federation marks compromised stays so.
func TestRestoreVerifiesNothingSignedByAKeyTheFederationMarksCompromised(t *testing.T) {
	stolen, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := trust.NewStatementSigner(stolen)
	if err != nil {
		t.Fatal(err)
	}
	kid := signer.KeyID()
	now := time.Now()
	ks := &keySchedule{province: "440000", kr: &keyring{sign: []*signKey{{priv: stolen,
		row: store.KeyRow{KID: kid, Kind: "sign", State: string(trust.KeyActive), NotBefore: now.Add(-time.Hour), Expires: now.Add(time.Hour)}}}}}
	held := &trust.VerifiedKeyset{Signing: map[string]*trust.Key{kid: {ID: kid, State: trust.KeyCompromised,
		NotBefore: now.Add(-time.Hour), Expires: now.Add(time.Hour), Public: &stolen.PublicKey}}}

	raw, err := signer.Sign(trust.TypHeartbeat, trust.Heartbeat{Issuer: "440000", IssuedAt: now.Unix(), KeysetVersion: 1,
		RevocationSeq: math.MaxUint64})
	if err != nil {
		t.Fatal(err)
	}
	var hb trust.Heartbeat
	err = trust.ParseSigned(raw, trust.TypHeartbeat, "440000", ks.verifyKeys(held), &hb)
	if trust.ReasonOf(err) != trust.ReasonKeyCompromised {
		t.Fatalf("a heartbeat signed by a key the federation's keyset marks compromised, the backup's still active: "+
			"verified with the restore's keys: %v (seq %d), want %s", err, hb.RevocationSeq, trust.ReasonKeyCompromised)
	}
	if k := ks.verifyKeys(nil)[kid]; k == nil || k.State != trust.KeyActive {
		t.Errorf("without a keyset held, the backup's own key is %+v, want it as the backup holds it", k)
	}
}
