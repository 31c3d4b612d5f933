package node

import (
	"context"
	"errors"

	"github.com/hcfed/hcfed/node/store"
)

// ResidentToken is a resident's new token, shown once.
type ResidentToken struct {
	ID            string `json:"id"`
	ResidentToken string `json:"resident_token"`
}

// ReplaceResidentToken gives a resident a new token and revokes every
// token they held, at once, cached or not: the way out for a resident
// whose phone (and the wallet link on it) was lost or seen by someone
// else, who would otherwise read their record and issue their codes for
// as long as the record exists. Operators only, at a service point; the
// resident's live codes are not revoked by it (a status change does that).
func (n *Node) ReplaceResidentToken(ctx context.Context, p Principal, id string) (ResidentToken, error) {
	return n.residents.replaceToken(ctx, p, id)
}

// replaceToken implements Node.ReplaceResidentToken.
func (r *residents) replaceToken(ctx context.Context, p Principal, id string) (ResidentToken, error) {
	if err := require(p, RoleOperator); err != nil {
		return ResidentToken{}, err
	}
	tok, hash, err := NewToken(r.rand)
	if err != nil {
		return ResidentToken{}, internal("replace resident token", err)
	}
	err = r.db.ReplaceResidentTokens(ctx, store.Token{Hash: hash, Role: string(RoleResident), SubjectID: id, Created: r.now()},
		r.auditEntry(p.Actor(), "subject.token", id, nil))
	r.access.forgetResident(id) // whatever the outcome: evicting too much only costs a read
	if errors.Is(err, store.ErrNotFound) {
		return ResidentToken{}, Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return ResidentToken{}, internal("replace resident token", err)
	}
	return ResidentToken{ID: id, ResidentToken: tok}, nil
}
