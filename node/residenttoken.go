package node

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/hcfed/hcfed/node/store"
)

// ResidentToken is a resident's new token, shown once, and how many of
// their phone codes the replacement revoked.
type ResidentToken struct {
	ID            string `json:"id"`
	ResidentToken string `json:"resident_token"`
	Revoked       int    `json:"revoked"` // phone codes revoked
}

// ReplaceResidentToken gives a resident a new token and revokes every
// token they held, at once, cached or not: the way out for a resident
// whose phone (and the wallet link on it) was lost or seen by someone
// else, who would otherwise read their record and issue their codes for
// as long as the record exists. Operators only, at a service point, with
// the resident present: when the record holds an ID number, idNumber must
// be it (from the resident's identity card), so that a token — and with it
// the record in clear, which operators otherwise see masked — is never
// minted for a resident who is not there. The codes issued to the
// resident's phone are revoked with the old tokens, through the outbox
// as after a status change, so that a finder of the phone cannot show the
// code it holds at a checkpoint of any province; the resident's paper
// codes, which they hold on paper, stay valid (RevokePaperCodes withdraws
// those). The revocation carries a link marker (linkmarker.go), even
// when no phone code was live, so that a node restored from a backup
// taken before it revokes the old link again. Audited as subject.token
// and code.revoke_phone.
func (n *Node) ReplaceResidentToken(ctx context.Context, p Principal, id, idNumber string) (ResidentToken, error) {
	return n.residents.replaceToken(ctx, p, id, idNumber)
}

// replaceToken implements Node.ReplaceResidentToken.
func (r *residents) replaceToken(ctx context.Context, p Principal, id, idNumber string) (ResidentToken, error) {
	if err := Permit(p, OpReplaceResidentToken, id); err != nil {
		return ResidentToken{}, err
	}
	// A new token opens the record in clear; a refusal tells whether an
	// ID number is this resident's: either is a read (reads.go).
	if err := r.access.chargeReads(p, readWalletLink, 1); err != nil {
		return ResidentToken{}, err
	}
	s, dk, err := loadSubjectWithKey(ctx, r.db, r.kek, id)
	if err != nil {
		return ResidentToken{}, err
	}
	if len(s.IDNumberCT) > 0 {
		held, err := dk.Open(fieldAAD(s.ID, "id_number"), s.IDNumberCT)
		if err != nil {
			return ResidentToken{}, internal("replace resident token", err)
		}
		switch {
		case len(held) == 0:
		case idNumber == "":
			return ResidentToken{}, Errorf(EInvalid, "id_number is required: the resident's, from their identity card")
		case subtle.ConstantTimeCompare([]byte(NormaliseIDNumber(idNumber)), held) != 1:
			// Audited, as the replacement is: a refusal answers whether an
			// ID number is this resident's, so an operator trying numbers
			// leaves a record of each try.
			if err := r.db.AppendAudit(ctx, r.auditEntry(p.Actor(), "subject.token_refused", id, nil)); err != nil {
				return ResidentToken{}, internal("replace resident token", err)
			}
			return ResidentToken{}, Errorf(EForbidden, "id_number is not this resident's; check the identity card")
		}
	}
	tok, hash, err := r.access.newToken()
	if err != nil {
		return ResidentToken{}, internal("replace resident token", err)
	}
	now := r.now()
	marker, err := r.access.links.entry(id, now, r.cfg.Codes.Lifetime, r.codes.phoneExpiry, r.rand)
	if err != nil {
		return ResidentToken{}, internal("replace resident token", err)
	}
	rev, err := r.db.ReplaceResidentTokens(ctx, store.Token{Hash: hash, Role: string(RoleResident), SubjectID: id, Created: now}, marker,
		r.auditEntry(p.Actor(), "subject.token", id, nil), r.auditEntry(p.Actor(), "code.revoke_phone", id, nil))
	r.access.forgetResident(id) // whatever the outcome: evicting too much only costs a read
	r.access.tokenCreated(hash)
	if errors.Is(err, store.ErrNotFound) {
		return ResidentToken{}, Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return ResidentToken{}, internal("replace resident token", err)
	}
	out := ResidentToken{ID: id, ResidentToken: tok}
	if rev != nil {
		r.revoked(ctx, rev)
		out.Revoked = len(rev.Entries) - rev.Markers
	}
	return out, nil
}
