package node

import (
	"context"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Verification is what a scanner is told about a code: validity, why not,
// the issuing province (when the signature proves it), and — only when
// valid — the colour and the masked name. Nothing else leaves the node
// (seed rules 5 and 7).
type Verification struct {
	Valid      bool   `json:"valid"`
	Reason     string `json:"reason"`
	Issuer     string `json:"issuer,omitempty"`
	Status     string `json:"status,omitempty"`
	MaskedName string `json:"masked_name,omitempty"`
	Expires    int64  `json:"exp,omitempty"`
	// RevocationsAge is how many seconds ago this node last knew it held
	// every revocation of the issuing province, when that is notably old
	// (over RevocationsNotableAge) or the reason is revocations_stale:
	// the checkpoint shows it, so that staff know the answer rests on old
	// news. Absent otherwise, and for the node's own province.
	RevocationsAge int64 `json:"revocations_age,omitempty"`
}

// RevocationsNotableAge is how old the revocations held of a province
// must be before a verification says how old (Verification.RevocationsAge):
// heartbeats come every 30 s, so four have been missed.
const RevocationsNotableAge = 2 * time.Minute

// scans owns a scanner's verification of a code (Node.Verify): the
// scanner's rate limit, through access; the check of the code against the
// trust state; its metrics; its audit entry, through the auditor, which
// writes it in the background; and the receipt for the home province of a
// foreign code, through records. It also says whether the node can verify
// (ready). It keeps no state of its own, and none of this state lives on
// Node.
type scans struct {
	province string
	state    *trust.State
	access   *access  // the scanners' rate limits (access.admitScan)
	records  *records // receipts of foreign codes (records.noteVerification)
	auditor  *auditor
	metrics  *Metrics
	now      func() time.Time
}

// newScans builds the node's verification service.
func newScans(province string, state *trust.State, a *access, rs *records, au *auditor, m *Metrics, now func() time.Time) *scans {
	return &scans{province: province, state: state, access: a, records: rs, auditor: au, metrics: m, now: now}
}

// Verify checks a code for a registered scanner. An invalid code is a
// normal result (Valid false, a Reason), not an error.
func (n *Node) Verify(ctx context.Context, p Principal, code string) (Verification, error) {
	return n.scans.verify(ctx, p, code)
}

// verify implements Node.Verify.
func (sc *scans) verify(ctx context.Context, p Principal, code string) (Verification, error) {
	if err := Permit(p, OpVerify, ""); err != nil {
		return Verification{}, err
	}
	now := sc.now()
	if err := sc.access.admitScan(p.ScannerID, now); err != nil {
		return Verification{}, err
	}
	start := time.Now()
	// Keyboard-wedge scanners end what they read with CR/LF; that is the
	// scanner's framing, not part of the code, which trust holds to one
	// exact encoding.
	code = strings.TrimRight(code, "\r\n\t ")
	res := trust.Verify(code, sc.state.Snapshot(), sc.state, now)
	sc.metrics.VerifySeconds.Observe(time.Since(start).Seconds())
	sc.metrics.Verified.WithLabelValues(IssuerLabel(sc.state.Snapshot(), res.Issuer), string(res.Reason)).Inc()
	proof := ForeignScanProof(sc.province, code, res)
	sc.auditor.add(verifyEntry(sc.now(), p.ScannerID, res.JTI, verifyDetail{Issuer: res.Issuer, Reason: res.Reason,
		Place: p.Place, Proof: proof}))
	sc.records.noteVerification(res, p.Place, proof, now) // a receipt for the home province of a foreign code
	return VerificationOf(res, now), nil
}

// ready reports whether the node can verify codes truthfully: its trust
// data is not past its stale limit, and the audit log, which every
// verification writes to, is being written (Node.Ready).
func (sc *scans) ready() error {
	if snap := sc.state.Snapshot(); !snap.StaleAfter.IsZero() && sc.now().After(snap.StaleAfter) {
		return notReady(ReadyTrustData, "trust data is stale", nil)
	}
	if err := sc.auditor.healthy(); err != nil {
		return notReady(ReadyAuditLog, "audit log writes failing: the node's log says why", err)
	}
	return nil
}

// VerificationOf is what a scanner is told of res, verified at now. The
// issuer is named only when the code's signature checked under that
// province's key: the iss of any other code is a claim anyone can write,
// which a checkpoint would show as "issued by" that province.
func VerificationOf(res trust.Result, now time.Time) Verification {
	v := Verification{Valid: res.Valid(), Reason: string(res.Reason)}
	if signatureChecked(res.Reason) {
		v.Issuer = res.Issuer
	}
	if !res.RevocationsAsOf.IsZero() {
		if age := now.Sub(res.RevocationsAsOf); age > RevocationsNotableAge || res.Reason == trust.ReasonRevocationsStale {
			v.RevocationsAge = int64(max(age, 0) / time.Second)
		}
	}
	if res.Valid() {
		v.Status, v.MaskedName, v.Expires = string(res.Content.Status), res.Content.Name, res.Expires.Unix()
	}
	return v
}

// IssuerLabel is the metrics label of a code's issuer under s: "none"
// when the code named none, "other" for a province that is no member,
// else its id.
func IssuerLabel(s *trust.Snapshot, issuer string) string {
	if issuer == "" {
		return "none"
	}
	if _, ok := s.Members[issuer]; !ok {
		return "other"
	}
	return issuer
}

// verifyDetail is what the audit log keeps of a verification: a struct
// rather than a map, as it is encoded once per verification.
type verifyDetail struct {
	Issuer string       `json:"iss"`
	Reason trust.Reason `json:"reason"`
	Place  string       `json:"place,omitempty"` // the scanner's kind of place, for the resident's right to know
	// Replica names the verifier replica the scanner used, if any.
	Replica string `json:"replica,omitempty"`
	// Proof is the code's proof of scan, kept only for another province's
	// code whose signature checked: this node's lookup of that code's
	// holder must show it (scanproof.go). Nothing else of the code is kept.
	Proof string `json:"proof,omitempty"`
}

// verifyEntry is the audit entry of one verification, at t, by scanner
// scannerID (through the replica d names, if any), of the code with id
// jti. Only a code whose signature checked out is attributed to the code
// id it names (the entry's target), and so to its holder's verification
// history: anyone can write a real jti under a bad signature. Others are
// audited without a target. Verify and a replica's records (ReplicaRecords)
// both write it.
func verifyEntry(t time.Time, scannerID, jti string, d verifyDetail) store.AuditEntry {
	target := ""
	if jti != "" && signatureChecked(d.Reason) {
		target = hashJTI(d.Issuer, jti)
	}
	return newAuditEntry(t, "scanner:"+scannerID, actionVerify, target, d)
}

// signatureChecked reports whether trust.Verify reaches reason only after
// the code's signature verified under its issuer's key: the code is
// genuine, whatever else is wrong with it (expired, revoked...). Every
// other reason — a bad signature, an unknown or compromised key, an
// unknown issuer — says nothing about who wrote the code.
func signatureChecked(r trust.Reason) bool {
	switch r {
	case trust.ReasonOK, trust.ReasonBadLifetime, trust.ReasonNotYetValid, trust.ReasonExpired,
		trust.ReasonRevoked, trust.ReasonRevocationsStale, trust.ReasonNoContentKey, trust.ReasonBadContent:
		return true
	}
	return false
}
