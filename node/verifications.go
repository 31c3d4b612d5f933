package node

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Right-to-know limits.
const (
	// maxCodesAsked bounds how many of a resident's codes one request
	// looks up (a daily code kept for the code retention is about 30).
	maxCodesAsked = 200
	// maxVerificationsListed bounds one listing, newest first.
	maxVerificationsListed = 500
	// maxForeignPerProvince bounds the receipts of one other province in a
	// listing, so that a province flooding receipts leaves room for the
	// others' (a month of one code a day at three kinds of place is 90).
	maxForeignPerProvince = 200
	// maxPerScanner bounds the verifications of one of this node's
	// scanners in a listing, and repeats of one (the same code, kind of
	// place and result) count once, as the newest: a scanner verifying
	// one code over and over, up to its rate all day, leaves the others'
	// verifications in the resident's view.
	maxPerScanner = 200
)

// actionVerify is the audit action of a verification.
const actionVerify = "code.verify"

// VerificationRecord is one verification of a resident's code, as the
// resident is told of it: when, at what kind of place, with what result,
// and by which province's scanner — never which scanner or where exactly.
type VerificationRecord struct {
	Time     time.Time `json:"time"`
	Day      string    `json:"day,omitempty"` // set instead of a time of day for another province's: 2026-11-30 (UTC+8)
	JTI      string    `json:"jti"`
	Place    string    `json:"place"` // kind of place: checkpoint, station, workplace...
	Reason   string    `json:"reason"`
	Valid    bool      `json:"valid"`
	Province string    `json:"province"`
}

// Verifications tells a resident (or an operator) when, in which
// province and at what kind of place their codes were verified: by this
// node's scanners, from its audit log, and by other provinces' scanners,
// from the receipts those provinces sent (ForeignVerifications). It is the
// resident's right to know how their code is used. Newest first; a
// scanner's repeated verifications of one code at one kind of place with
// one result are listed once, at the newest (maxPerScanner).
func (n *Node) Verifications(ctx context.Context, p Principal, subjectID string) ([]VerificationRecord, error) {
	return n.records.verifications(ctx, p, subjectID)
}

// verifications implements Node.Verifications: an operator's read is
// charged and audited (operatorRead).
func (rs *records) verifications(ctx context.Context, p Principal, subjectID string) ([]VerificationRecord, error) {
	return operatorRead(ctx, rs.access, p, readVerifications, subjectID, func() ([]VerificationRecord, error) {
		return rs.listVerifications(ctx, p, subjectID)
	})
}

// listVerifications reads the list verifications returns.
func (rs *records) listVerifications(ctx context.Context, p Principal, subjectID string) ([]VerificationRecord, error) {
	if err := requireSubject(p, subjectID); err != nil {
		return nil, err
	}
	if _, err := loadSubject(ctx, rs.db, subjectID); err != nil {
		return nil, err
	}
	byTarget, targets, err := rs.codeTargets(ctx, subjectID)
	if err != nil {
		return nil, internal("verifications", err)
	}
	entries, err := rs.db.AuditByTargetsPerActor(ctx, actionVerify, targets, maxPerScanner, maxVerificationsListed)
	if err != nil {
		return nil, internal("verifications", err)
	}
	out := make([]VerificationRecord, 0, len(entries))
	for _, e := range entries {
		var d verifyDetail
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			continue // not written by Verify
		}
		out = append(out, VerificationRecord{Time: e.Time, JTI: byTarget[e.Target], Place: d.Place,
			Reason: string(d.Reason), Valid: d.Reason == trust.ReasonOK, Province: rs.province})
	}
	foreign, err := rs.foreignVerifications(ctx, p, subjectID)
	if err != nil {
		return nil, err
	}
	out = append(out, foreign...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}
