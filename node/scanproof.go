package node

import (
	"context"
	"encoding/json"

	"github.com/hcfed/hcfed/trust"
)

// Proof of scan (trust/scanproof.go), the asking side. A lookup of
// another province's code must carry the code's proof of scan, which only
// the code's text gives: a code id alone — every member learns the ids of
// revoked codes from the revocation statements — is not enough to ask for
// its holder's name and phone. So this node keeps, with the audit entry of
// each verification of another province's code whose signature checked
// (here or at one of its replicas), that code's proof, and nothing else
// of the code (seed rule 5); a lookup by issuer and jti takes the proof
// from there, a lookup by the code's text computes it.

// maxScanRecordsRead bounds the verification entries of one code a
// lookup reads for its proof, newest first: every entry written since
// proofs are kept has it, so the first one normally does.
const maxScanRecordsRead = 16

// ForeignScanProof is the proof of scan a node of province self keeps of
// code, verified with result res: the code's proof when it is another
// province's and its signature checked (a code of self is never looked
// up over the federation; the proof of a code whose signature did not
// check would prove nothing), and "" otherwise.
func ForeignScanProof(self, code string, res trust.Result) string {
	if res.Issuer == "" || res.Issuer == self || res.JTI == "" || !signatureChecked(res.Reason) {
		return ""
	}
	proof, err := trust.ScanProof(code)
	if err != nil {
		return "" // not reached: a code whose signature checked has a signature part
	}
	return proof
}

// scannedProof returns the proof of scan kept with this node's newest
// verification of home's code jti, or "" when it holds none: the code was
// never verified here (or by this node's replicas) with its signature
// checked, or only before proofs were kept, or so long ago that the audit
// retention pruned the entries. A proof this node computed itself comes
// before one a replica sent: a replica can only send a proof of the right
// form, not show that it is the code's, and a wrong one would have the
// lookup refused.
func (l *lookups) scannedProof(ctx context.Context, home, jti string) (string, error) {
	entries, err := l.db.AuditByTargets(ctx, actionVerify, []string{hashJTI(home, jti)}, maxScanRecordsRead)
	if err != nil {
		return "", err
	}
	fromReplica := ""
	for _, e := range entries {
		var d verifyDetail
		if json.Unmarshal([]byte(e.Detail), &d) != nil || d.Issuer != home || !trust.ValidScanProof(d.Proof) {
			continue
		}
		if d.Replica == "" {
			return d.Proof, nil
		}
		if fromReplica == "" {
			fromReplica = d.Proof
		}
	}
	return fromReplica, nil
}
