package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// A proof this node computed at its own scan is sent before a newer one a
// replica recorded: a hostile replica could record any well-formed proof
// for a code id and have every lookup of it refused.
func TestScannedProofPrefersThisNodesOwnScanToAReplicas(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	own := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, trust.ScanProofLen))
	planted := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{2}, trust.ScanProofLen))
	const home, jti = "440000", "AZ0123456789abcdefghij"
	target := hashJTI(home, jti)
	at := time.Unix(1_800_000_000, 0)
	for i, d := range []verifyDetail{
		{Issuer: home, Reason: trust.ReasonOK, Proof: own},                        // this node's scan
		{Issuer: home, Reason: trust.ReasonOK, Replica: "edge-1", Proof: planted}, // newer, from a replica
	} {
		if err := db.AppendAudit(ctx, newAuditEntry(at.Add(time.Duration(i)*time.Minute), "scanner:sc_1", actionVerify, target, d)); err != nil {
			t.Fatal(err)
		}
	}
	l := &lookups{db: db}
	if got, err := l.scannedProof(ctx, home, jti); err != nil || got != own {
		t.Errorf("scannedProof = %q, %v; want this node's own %q", got, err, own)
	}
	// With only a replica's scan, its proof is sent.
	if err := db.AppendAudit(ctx, newAuditEntry(at, "scanner:sc_1", actionVerify, hashJTI(home, "other"),
		verifyDetail{Issuer: home, Reason: trust.ReasonOK, Replica: "edge-1", Proof: planted})); err != nil {
		t.Fatal(err)
	}
	if got, err := l.scannedProof(ctx, home, "other"); err != nil || got != planted {
		t.Errorf("scannedProof of a code only a replica scanned = %q, %v; want the replica's", got, err)
	}
}
