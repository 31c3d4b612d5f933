package node

import (
	"context"
	"errors"
	"time"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Cross-province identity lookup, the home side: another province asks
// this node for the contact data of the holder of one of its codes.
//
// Checks, in order: the request opens with this node's enc key and
// verifies under the asker's keys, in the asker's name, addressed here
// and fresh; its nonce was not seen; then, and only then, the asking
// province's rate is charged (peerintake.go: a flood of forgeries in its
// name must not spend it and have its real lookups refused), and beyond
// it a few requests get a signed rate_limited refusal and the rest are
// dropped unanswered, neither audited nor logged; the request states a
// legal basis; the asker is an active member; the request's proof of
// scan is that of the code this node issued under the jti
// (trust.CheckScanProof against the digest stored at issuance; a code
// issued before digests were kept cannot be proven). A request that does
// not verify is not answered (nobody would believe an unsigned refusal,
// and a signed one needs a verified nonce to echo), nor is a replay but
// for a few signed refusals; both are counted, and audited and logged at
// most at peerRefusedNoteRate. Every other refusal is signed. Every
// verified request within the rate is in the audit log, as
// "peer:<asker>", with the code id hashed, the case as its tag
// (lookupcase.go) and no personal data.

// answer handles one lookup request from asker, received over p (whose
// intake and replay cache it applies, and whose logger it logs to),
// and returns the signed answer, or nil to stay silent.
func (l *lookups) answer(p *Peers, asker string, raw []byte) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	now := l.now()
	actor := "peer:" + asker
	// grounds is a verified request's want of a legal basis or proof of
	// scan: refused, signed, once the request is charged; err is what
	// refuses it before (not opened, not verified, or a replay).
	var req *trust.LookupRequest
	var grounds error
	err := p.lookupIntake.open(asker, raw, now, func() error {
		var err error
		if req, err = l.openRequest(asker, raw); req == nil {
			return err
		}
		grounds = err
		return p.lookupNonces.Use(asker, req.Nonce, req.IssuedAt, now)
	})
	verdict := p.lookupIntake.admit(p.log, asker, err, now)
	switch {
	case verdict == intakeRefusedQuiet:
		return nil
	case verdict == intakeOverRate && !p.refusalLimit.allow(asker, now):
		return nil // far beyond the rate: not answered
	case req == nil: // noted: not opened or not verified
		l.audit(actor, actionLookupRefuse, "", map[string]any{"reason": trust.ReasonOf(err)})
		return nil
	}
	target, tag := hashJTI(l.province, req.JTI), l.caseTag(req.CaseID)
	refuse := func(why trust.Reason) []byte {
		l.audit(actor, actionLookupRefuse, target, l.basisOf(ctx, p, req, now, nil, "").into(map[string]any{"reason": why, "case": tag}))
		return l.refuse(p, req, why)
	}
	switch verdict {
	case intakeRefusedNote: // a replay
		return refuse(trust.ReasonOf(err))
	case intakeOverRate:
		// Not audited: the rate is what keeps the audit log from flooding.
		return l.refuse(p, req, trust.ReasonRateLimited)
	}
	if grounds != nil { // verified, but no usable legal basis or case: neither is recorded
		l.audit(actor, actionLookupRefuse, target, map[string]any{"reason": trust.ReasonOf(grounds)})
		return l.refuse(p, req, trust.ReasonOf(grounds))
	}
	if !activeMember(l.state, asker) {
		return refuse(trust.ReasonNotMember)
	}
	ks, err := peerKeys(l.state, asker)
	if err != nil || ks.EncKey == nil {
		return refuse(trust.ReasonNotRecipient)
	}
	contact, subjectID, fields, dk, err := l.contactOf(ctx, req)
	if errors.Is(err, errUnproven) {
		return refuse(trust.ReasonLookupUnproven)
	}
	if err != nil {
		p.log.Error("lookup not answered", "from", asker, "err", err)
		l.audit(actor, actionLookupRefuse, target, map[string]any{"reason": "internal", "case": tag})
		return nil
	}
	ans, err := trust.AnswerLookup(l.keys.signer.Load(), req, ks.EncKey, contact, now)
	if err != nil {
		p.log.Error("lookup not answered", "from", asker, "err", err)
		return nil
	}
	d := answerDetail{Case: tag, JTI: target, Found: contact != nil, Fields: fields}
	if contact == nil {
		d.sealedBasis = l.basisOf(ctx, p, req, now, nil, "")
		l.audit(actor, actionLookupAnswer, target, d)
		return []byte(ans)
	}
	// A disclosure is on record before it leaves: written now, not queued
	// for the auditor's next batch. The resident's list of lookups and a
	// deletion's erasures (erasure.go) read this entry; a deletion right
	// after the answer found none while it was still queued, and the
	// asker kept the contact.
	d.CaseSealed = dk.Seal(caseAAD(subjectID), []byte(req.CaseID))
	d.sealedBasis = l.basisOf(ctx, p, req, now, dk, subjectID)
	// The entry is written only while the resident exists: a deletion
	// that committed after the contact was read finds no entry to erase
	// (erasure.go), so the contact must not leave; the asker is told, as
	// for any resident who is gone, that there is no one to contact.
	err = l.db.AppendAuditOfSubject(ctx, subjectID, newAuditEntry(now, actor, actionLookupAnswer, subjectID, d))
	if errors.Is(err, store.ErrNotFound) {
		if ans, err = trust.AnswerLookup(l.keys.signer.Load(), req, ks.EncKey, nil, now); err != nil {
			p.log.Error("lookup not answered", "from", asker, "err", err)
			return nil
		}
		gone := answerDetail{Case: tag, JTI: target, sealedBasis: l.basisOf(ctx, p, req, now, nil, "")}
		l.audit(actor, actionLookupAnswer, target, gone)
		return []byte(ans)
	}
	if err != nil {
		p.log.Error("lookup not answered: its audit entry could not be written", "from", asker, "err", err)
		return nil
	}
	return []byte(ans)
}

// basisOf is req's legal basis as the audit log keeps it (see sealBasis).
// Should it fail to be sealed, the entry keeps its tag alone, which still
// shows a basis was stated: the text is lost, never kept in clear.
func (l *lookups) basisOf(ctx context.Context, p *Peers, req *trust.LookupRequest, now time.Time, dk *seal.Key, subjectID string) sealedBasis {
	b, err := l.sealBasis(ctx, req.LegalBasis, now, dk, subjectID)
	if err != nil {
		p.log.Error("a lookup's legal basis is audited as its tag alone: it could not be sealed", "from", req.Issuer, "err", err)
	}
	return b
}

// openRequest decrypts and verifies a request from asker; see
// trust.OpenLookupRequest for the request it returns with an error.
func (l *lookups) openRequest(asker string, raw []byte) (*trust.LookupRequest, error) {
	ks, err := peerKeys(l.state, asker)
	if err != nil {
		return nil, err
	}
	return trust.OpenLookupRequest(string(raw), asker, ks.Signing, l.province, l.keys.encKey(), l.now())
}

// refuse signs a refusal of req, received over p.
func (l *lookups) refuse(p *Peers, req *trust.LookupRequest, why trust.Reason) []byte {
	raw, err := trust.RefuseLookup(l.keys.signer.Load(), req, why, l.now())
	if err != nil {
		p.log.Error("lookup refusal not signed", "err", err)
		return nil
	}
	return []byte(raw)
}

// errUnproven is contactOf's refusal of a request whose proof of scan is
// not that of the code named.
var errUnproven = errors.New("lookup: proof of scan does not match the code's")

// contactOf returns the contact data of the holder of this province's code
// req.JTI — the name and phone number held, each only if collected — with
// their subject id, the fields disclosed and their data key; nil if the
// code is unknown or its holder deleted their record. A code this node
// holds is first proven: errUnproven unless req.Proof is its proof of
// scan, whether or not its holder is still here, so that an unproven
// asker cannot tell a deleted record from a live one.
func (l *lookups) contactOf(ctx context.Context, req *trust.LookupRequest) (*trust.Contact, string, []string, *seal.Key, error) {
	code, err := l.db.Code(ctx, req.JTI)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil, nil, nil
	}
	if err != nil {
		return nil, "", nil, nil, err
	}
	if !trust.CheckScanProof(req.Proof, code.ScanDigest) {
		return nil, "", nil, nil, errUnproven
	}
	if code.SubjectID == "" {
		return nil, "", nil, nil, nil
	}
	s, err := l.db.Subject(ctx, code.SubjectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil, nil, nil
	}
	if err != nil {
		return nil, "", nil, nil, err
	}
	dk, err := openDataKey(l.kek, s)
	if err != nil {
		return nil, "", nil, nil, err
	}
	var c trust.Contact
	var fields []string
	for _, f := range []struct {
		name string
		ct   []byte
		to   *string
	}{{"name", s.NameCT, &c.Name}, {"phone", s.PhoneCT, &c.Phone}} {
		if len(f.ct) == 0 {
			continue
		}
		b, err := dk.Open(fieldAAD(s.ID, f.name), f.ct)
		if err != nil {
			return nil, "", nil, nil, err
		}
		if len(b) > 0 {
			*f.to = string(b)
			fields = append(fields, f.name)
		}
	}
	return &c, s.ID, fields, dk, nil
}
