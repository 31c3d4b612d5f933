package node

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// ReplicaRecord is one verification a verifier replica made, as it
// queues it and sends it home: which scanner, when, the result, and the
// code id only when the code's signature checked out (for the resident's
// verification history, and the receipt to a foreign code's home
// province), with the code's proof of scan when it is another
// province's (ForeignScanProof: the home node keeps it for its lookups).
// It holds no personal data.
type ReplicaRecord struct {
	ID        string       `json:"id"` // drawn by the replica; the home node appends each id once
	Time      time.Time    `json:"time"`
	ScannerID string       `json:"scanner"`
	Place     string       `json:"place,omitempty"`
	Issuer    string       `json:"iss,omitempty"`
	JTI       string       `json:"jti,omitempty"`
	Reason    trust.Reason `json:"reason"`
	Proof     string       `json:"proof,omitempty"`
}

// NewReplicaRecord is the record of a verification of code, with result
// res, by the scanner p at now, with id, at a replica of province self.
func NewReplicaRecord(id string, p Principal, self, code string, res trust.Result, now time.Time) ReplicaRecord {
	rec := ReplicaRecord{ID: id, Time: now.UTC(), ScannerID: p.ScannerID, Place: p.Place, Issuer: res.Issuer, Reason: res.Reason}
	if res.JTI != "" && signatureChecked(res.Reason) {
		rec.JTI = res.JTI
		rec.Proof = ForeignScanProof(self, code, res)
	}
	return rec
}

// check refuses a record no replica writes.
func (rec ReplicaRecord) check(now time.Time) error {
	switch {
	case rec.ID == "" || len(rec.ID) > maxReplicaRecordID || strings.Trim(rec.ID, idChars) != "":
		return Errorf(EInvalid, "record id missing or malformed")
	case rec.Time.IsZero() || rec.Time.After(now.Add(trust.ClockSkew)) || rec.Time.Before(now.Add(-replicaRecordMaxAge)):
		return Errorf(EInvalid, "record %s: time out of range", rec.ID)
	case rec.ScannerID == "" || len(rec.ScannerID) > maxReplicaRecordID || strings.Trim(rec.ScannerID, idChars) != "":
		return Errorf(EInvalid, "record %s: scanner id missing or malformed", rec.ID)
	case len(rec.Issuer) > 6 || len(rec.JTI) > maxReplicaRecordID || strings.Trim(rec.JTI, idChars) != "",
		!codeReason(rec.Reason):
		return Errorf(EInvalid, "record %s: issuer, code id or reason malformed", rec.ID)
	case rec.JTI != "" && (rec.Issuer == "" || !signatureChecked(rec.Reason)):
		return Errorf(EInvalid, "record %s: a code id only with its issuer and a checked signature", rec.ID)
	case rec.Proof != "" && (rec.JTI == "" || !trust.ValidScanProof(rec.Proof)):
		return Errorf(EInvalid, "record %s: a proof of scan only with a code id, and of the form of one", rec.ID)
	}
	return checkText("place", rec.Place, maxScannerPlaceLen, false)
}

// codeReason reports whether r is a reason trust.Verify gives a code: the
// only reasons a replica's record may carry, because each becomes a label
// of the verification counter on /metrics and a word in the audit log.
func codeReason(r trust.Reason) bool {
	switch r {
	case trust.ReasonOK, trust.ReasonMalformed, trust.ReasonOversized, trust.ReasonBadAlgorithm, trust.ReasonWrongType,
		trust.ReasonBadHeader, trust.ReasonTrustStale, trust.ReasonUnknownIssuer, trust.ReasonIssuerSuspended,
		trust.ReasonUnknownKey, trust.ReasonKeyNotActive, trust.ReasonKeyCompromised, trust.ReasonBadSignature,
		trust.ReasonBadLifetime, trust.ReasonExpired, trust.ReasonNotYetValid, trust.ReasonRevoked,
		trust.ReasonRevocationsStale, trust.ReasonNoContentKey, trust.ReasonBadContent:
		return true
	}
	return false
}

// idChars are the characters of record, scanner and code ids (base64url
// and the prefixes' underscore).
const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// ReplicaSignatureHeader carries a replica's signature of a POST
// /v1/replica/records body (trust.SignReplicaRecords).
const ReplicaSignatureHeader = "Hcfed-Replica-Signature"

// AcceptRecords takes a POST /v1/replica/records of rp: body, its exact
// bytes ({"records": [...]}), and signature, its ReplicaSignatureHeader.
// It is refused unless rp's keys are the ones an admin confirmed
// (EReplicaUnconfirmed; EReplicaSignature for a grandfathered replica,
// which serves meanwhile: the replica keeps the records queued) and the signature is of body by rp's registered
// signing key (EReplicaSignature): a replica token alone adds nothing.
// A body sent again is harmless (each record id counts once). Then, see
// acceptRecords.
func (r *Replicas) AcceptRecords(ctx context.Context, rp ReplicaPrincipal, body []byte, signature string) (int, error) {
	x, err := r.n.db.ReplicaByID(ctx, rp.ID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, Errorf(EUnauthorized, "unknown replica token")
	}
	if err != nil {
		return 0, internal("replica records", err)
	}
	if x.Grandfathered() {
		return 0, Errorf(EReplicaSignature, "replica %s's records need the signature of a confirmed signing key: %s",
			x.Name, grandfatheredNote(x))
	}
	if !x.Trusted() {
		return 0, unconfirmed(x)
	}
	sig, _, err := trust.ParsePublicJWK(json.RawMessage(x.SigKey))
	if err != nil {
		return 0, internal("replica records", err)
	}
	if signature == "" {
		return 0, Errorf(EReplicaSignature, "records must be signed with the replica's registered signing key (%s header): "+
			"a replica token alone cannot add records", ReplicaSignatureHeader)
	}
	if err := trust.VerifyReplicaRecords(signature, body, sig); err != nil {
		return 0, Errorf(EReplicaSignature, "the records' signature is not replica %s's (%s): a replica token alone cannot add records",
			x.Name, trust.ReasonOf(err))
	}
	var in struct {
		Records []ReplicaRecord `json:"records"`
	}
	if err := trust.DecodeJSON(body, &in); err != nil {
		return 0, Errorf(EInvalid, "invalid JSON: records: %v", err)
	}
	return r.acceptRecords(ctx, rp, in.Records)
}

// acceptRecords appends the verifications a replica sends to the audit
// log, as if its scanners had verified here, attributed to the scanner
// and naming the replica. Each record's scanner must be registered here
// (one removed since it scanned still is), and the place recorded is the
// one registered for it, not the record's: a replica can neither make up
// a scanner nor write a place of its own into a resident's history; the valid foreign codes among them are queued
// for a receipt to their home province, as Verify does. A record id
// already appended is skipped, so a batch sent again counts once. It
// returns how many records were new. No records writes nothing.
func (r *Replicas) acceptRecords(ctx context.Context, rp ReplicaPrincipal, recs []ReplicaRecord) (int, error) {
	if len(recs) > MaxReplicaRecords {
		return 0, Errorf(ETooLarge, "at most %d records per request", MaxReplicaRecords)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	now := r.n.now()
	in := make([]store.ReplicaRecord, len(recs))
	byID := make(map[string]ReplicaRecord, len(recs))
	places := make(map[string]string) // scanner id: its registered place
	for i, rec := range recs {
		if err := rec.check(now); err != nil {
			return 0, err
		}
		place, ok := places[rec.ScannerID]
		if !ok {
			sc, err := r.n.db.Scanner(ctx, rec.ScannerID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return 0, Errorf(EInvalid, "record %s: scanner %s is not registered here", rec.ID, rec.ScannerID)
			case err != nil:
				return 0, internal("replica records", err)
			}
			place = sc.Place
			places[rec.ScannerID] = place
		}
		rec.Place = place
		if rec.Proof != "" && rec.Issuer == r.n.cfg.Province {
			return 0, Errorf(EInvalid, "record %s: a proof of scan only of another province's code", rec.ID)
		}
		// At the verification's time; check allows a code id only with
		// a checked signature, so the entry names the code whenever the
		// record does.
		e := verifyEntry(rec.Time, rec.ScannerID, rec.JTI,
			verifyDetail{Issuer: rec.Issuer, Reason: rec.Reason, Place: rec.Place, Replica: rp.Name, Proof: rec.Proof})
		in[i] = store.ReplicaRecord{ID: rp.ID + "/" + rec.ID, Audit: e}
		byID[in[i].ID] = rec
	}
	fresh, err := r.n.db.AcceptReplicaRecords(ctx, rp.ID, in, now, now.Add(-2*replicaRecordMaxAge))
	if err != nil {
		return 0, internal("replica records", err)
	}
	for _, f := range fresh {
		rec := byID[f.ID]
		r.n.metrics.Verified.WithLabelValues(IssuerLabel(r.n.state.Snapshot(), rec.Issuer), string(rec.Reason)).Inc()
		if rec.JTI != "" {
			r.n.records.noteVerification(trust.Result{Reason: rec.Reason, Issuer: rec.Issuer, JTI: rec.JTI}, rec.Place, rec.Proof, rec.Time)
		}
	}
	return len(fresh), nil
}
