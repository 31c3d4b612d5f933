package node

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hcfed/hcfed/trust"
)

// Erasure of contact data other provinces obtained (seed rule 8): when a
// resident's record is deleted here — by the resident, an operator or the
// retention pass — the name and phone number this node gave other
// provinces in lookups must not stay readable there either. Each such
// province kept them sealed under its own KEK (lookup.go), which the
// resident's deletion here does not shred. So this node sends every
// province it answered about the resident a signed erasure naming the
// codes looked up (trust.Erasure, sealed to it, on the subject receipts
// travel on), and that province deletes what it kept from this province
// about those codes, and nothing else.
//
// Erasures are sent once, at the deletion, as receipts are: a province
// that is not reachable then keeps its copy until its own
// privacy.retention.lookups ends (30 days by default), as before. Each
// erasure is in the audit log at both ends, without personal data.

// Audit actions of erasures.
const (
	actionLookupErase  = "lookup.erase"  // home: told an asker to delete (target: the subject)
	actionLookupErased = "lookup.erased" // asker: deleted what a home province said
)

// eraseElsewhere tells every province this node answered a lookup about
// the deleted subject id to delete the contact data it kept. actor is
// the deletion's. Nothing is returned: the deletion is done, and an
// erasure not sent is audited and logged.
func (l *lookups) eraseElsewhere(ctx context.Context, actor, subjectID string) {
	entries, err := l.db.AuditByTargets(ctx, actionLookupAnswer, []string{subjectID}, maxLookupsListed)
	if err != nil {
		l.log.Error("lookup erasures not sent", "err", err)
		return
	}
	byAsker := map[string][]string{}
	for _, e := range entries {
		var d answerDetail
		asker, ok := strings.CutPrefix(e.Actor, "peer:")
		if !ok || json.Unmarshal([]byte(e.Detail), &d) != nil || !d.Found || d.JTI == "" {
			continue
		}
		if !slices.Contains(byAsker[asker], d.JTI) {
			byAsker[asker] = append(byAsker[asker], d.JTI)
		}
	}
	for asker, codes := range byAsker {
		err := l.sendErasure(ctx, asker, codes)
		l.audit(actor, actionLookupErase, subjectID, map[string]any{"to": asker, "codes": len(codes), "sent": err == nil})
		if err != nil {
			l.log.Warn("lookup erasure not sent: the province keeps its copy until its lookup retention ends",
				"to", asker, "err", err)
		}
	}
}

// sendErasure signs, seals and publishes one erasure to asker.
func (l *lookups) sendErasure(ctx context.Context, asker string, codes []string) error {
	p := l.peers.Load()
	if p == nil {
		return errNoPeers
	}
	ks, err := peerKeys(l.state, asker)
	if err != nil {
		return err
	}
	if ks.EncKey == nil {
		return &trust.Error{Reason: trust.ReasonNotRecipient, Detail: "no encryption key held for " + asker}
	}
	nonce, err := trust.NewNonce(l.rand)
	if err != nil {
		return err
	}
	raw, err := trust.SealErasure(l.keys.signer.Load(), trust.Erasure{Issuer: l.province, To: asker,
		IssuedAt: l.now().Unix(), Nonce: nonce, Codes: codes}, ks.EncKey)
	if err != nil {
		return err
	}
	return p.conn.PublishReceipts(ctx, asker, []byte(raw))
}

// erased applies an erasure from home, received over p: the lookups home
// answered about the codes it names are deleted. It shares the receipts'
// rate limit and replay cache, as it shares their subject. A suspended
// home province's erasure is applied too: it deletes only what that
// province itself gave.
func (l *lookups) erased(p *Peers, home string, raw []byte) {
	now := l.now()
	if !p.receiptLimit.allow(home, now) {
		p.log.Debug("lookup erasure dropped: rate", "from", home)
		return
	}
	ks, err := peerKeys(l.state, home)
	var e *trust.Erasure
	if err == nil {
		e, err = trust.OpenErasure(string(raw), home, ks.Signing, l.province, l.keys.encKey(), now)
	}
	if err == nil {
		err = p.receiptNonces.Use(home, e.Nonce, e.IssuedAt, now)
	}
	if err != nil {
		p.log.Warn("lookup erasure refused", "from", home, "reason", string(trust.ReasonOf(err)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	n, err := l.db.DeleteLookupsOf(ctx, home, e.Codes)
	if err != nil {
		p.log.Error("lookup erasure not applied", "from", home, "err", err)
		return
	}
	l.audit("peer:"+home, actionLookupErased, "", map[string]any{"codes": len(e.Codes), "deleted": n})
	l.metrics.Deleted.WithLabelValues("lookup", "erasure").Add(float64(n))
}
