package node

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Verification receipts (the cross-province part of the right to know):
// when this node verifies a valid code of another province, it queues
// {jti, kind of place, time} for that province — never the scanner — and
// every few seconds sends each home node one signed batch sealed to it.
// The home node records each entry against its own code in its audit log,
// so its resident can see "verified in 310000 at a station at 10:32".
//
// The trade-off: the home province learns where (by kind of place and
// province) and when its resident's code was scanned elsewhere. It is the
// resident's own health authority, which issued the code and holds their
// identity already; the resident's right to know where their code was
// used needs someone to hold it, and the home node is the one the resident
// can ask. No other member learns it (receipts are sealed), the visited
// province keeps what it kept before, and sending is fire and forget: a
// home node that is away misses the receipts sent meanwhile.

// Receipt limits.
const (
	// actionPeerVerify is the home node's audit action for a
	// verification of one of its codes in another province.
	actionPeerVerify = "code.verify.peer"
	// maxQueuedReceipts bounds what waits to be sent; beyond it new
	// entries are dropped (and logged), as a receipt is best effort.
	maxQueuedReceipts = 50_000
)

// receiptQueue holds entries waiting to be sent, by home province.
type receiptQueue struct {
	mu      sync.Mutex
	byHome  map[string][]trust.ReceiptEntry
	n       int
	dropped int
}

func (q *receiptQueue) add(home string, e trust.ReceiptEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= maxQueuedReceipts {
		q.dropped++
		return
	}
	q.byHome[home] = append(q.byHome[home], e)
	q.n++
}

// take empties the queue and returns what it held, and how many entries
// were dropped since the last take.
func (q *receiptQueue) take() (map[string][]trust.ReceiptEntry, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	all, dropped := q.byHome, q.dropped
	q.byHome, q.n, q.dropped = map[string][]trust.ReceiptEntry{}, 0, 0
	return all, dropped
}

// noteVerification queues a receipt for the home node of a valid code of
// another province, if the node is connected. The kind of place is sent
// only if it is a short lowercase token; anything else is sent as
// "other", so no free-text location leaves the province.
func (n *Node) noteVerification(res trust.Result, place string, now time.Time) {
	if !res.Valid() || res.Issuer == n.cfg.Province {
		return
	}
	p := n.peers.Load()
	if p == nil {
		return
	}
	if place = strings.ToLower(place); !trust.ValidPlace(place) {
		place = "other"
	}
	p.receipts.add(res.Issuer, trust.ReceiptEntry{JTI: res.JTI, Place: place, Time: now.Unix()})
}

// sendReceipts signs, seals and publishes the queued entries, one receipt
// per home province and MaxReceiptEntries.
func (p *Peers) sendReceipts(ctx context.Context) {
	all, dropped := p.receipts.take()
	if dropped > 0 {
		p.log.Warn("verification receipts dropped: queue full", "dropped", dropped)
	}
	now := p.n.now()
	for home, es := range all {
		ks, err := p.n.peerKeys(home)
		if err != nil || ks.EncKey == nil || !p.n.activeMember(home) {
			continue
		}
		for len(es) > 0 {
			batch := es[:min(len(es), trust.MaxReceiptEntries)]
			es = es[len(batch):]
			if err := p.sendReceipt(ctx, home, ks, batch, now); err != nil {
				p.log.Warn("verification receipt not sent", "home", home, "entries", len(batch), "err", err)
			}
		}
	}
}

func (p *Peers) sendReceipt(ctx context.Context, home string, ks *trust.VerifiedKeyset, batch []trust.ReceiptEntry, now time.Time) error {
	nonce, err := trust.NewNonce(p.n.rand)
	if err != nil {
		return err
	}
	raw, err := trust.SealReceipt(p.n.Signer(), trust.Receipt{Issuer: p.n.cfg.Province, To: home, IssuedAt: now.Unix(),
		Nonce: nonce, Entries: batch}, ks.EncKey)
	if err != nil {
		return err
	}
	return p.conn.PublishReceipts(ctx, home, []byte(raw))
}

// receive records a receipt from verifier: each entry for a code this
// node issued and still links to its holder goes into the audit log,
// against the code's hashed id, as the resident's own verifications do.
func (p *Peers) receive(verifier string, raw []byte) {
	n := p.n
	now := n.now()
	if !p.receiptLimit.allow(verifier, now) {
		p.log.Debug("verification receipt dropped: rate", "from", verifier)
		return
	}
	ks, err := n.peerKeys(verifier)
	if err == nil && !n.activeMember(verifier) {
		err = &trust.Error{Reason: trust.ReasonNotMember}
	}
	var r *trust.Receipt
	if err == nil {
		r, err = trust.OpenReceipt(string(raw), verifier, ks.Signing, n.cfg.Province, n.keys.enc, now)
	}
	if err == nil {
		err = p.receiptNonces.Use(verifier, r.Nonce, r.IssuedAt, now)
	}
	if err != nil {
		p.log.Warn("verification receipt refused", "from", verifier, "reason", string(trust.ReasonOf(err)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	for _, e := range r.Entries {
		code, err := n.db.Code(ctx, e.JTI)
		if errors.Is(err, store.ErrNotFound) || (err == nil && code.SubjectID == "") {
			continue // not ours, or its holder is gone: nobody to tell
		}
		if err != nil {
			p.log.Error("verification receipt not recorded", "from", verifier, "err", err)
			return
		}
		n.audit(ctx, "peer:"+verifier, actionPeerVerify, hashJTI(n.cfg.Province, e.JTI), peerVerifyDetail{Place: e.Place, Time: e.Time})
	}
}

// peerVerifyDetail is what the audit log keeps of a verification elsewhere.
type peerVerifyDetail struct {
	Place string `json:"place,omitempty"`
	Time  int64  `json:"t"`
}

// ForeignVerifications lists the verifications of a resident's codes by
// other provinces' scanners that those provinces reported in receipts,
// newest first, in the shape of Verifications (Province is the verifying
// province; Valid is always true: only valid codes are reported). It is
// the hook through which GET /v1/subjects/{id}/verifications shows them.
func (n *Node) ForeignVerifications(ctx context.Context, p Principal, subjectID string) ([]VerificationRecord, error) {
	if err := requireSubject(p, subjectID); err != nil {
		return nil, err
	}
	byTarget, targets, err := n.codeTargets(ctx, subjectID)
	if err != nil {
		return nil, internal("foreign verifications", err)
	}
	entries, err := n.db.AuditByTargets(ctx, actionPeerVerify, targets, maxVerificationsListed)
	if err != nil {
		return nil, internal("foreign verifications", err)
	}
	out := make([]VerificationRecord, 0, len(entries))
	for _, e := range entries {
		var d peerVerifyDetail
		province, ok := strings.CutPrefix(e.Actor, "peer:")
		if !ok || json.Unmarshal([]byte(e.Detail), &d) != nil {
			continue
		}
		out = append(out, VerificationRecord{Time: time.Unix(d.Time, 0).UTC(), JTI: byTarget[e.Target], Place: d.Place,
			Reason: string(trust.ReasonOK), Valid: true, Province: province})
	}
	return out, nil
}

// codeTargets returns the audit targets (hashed code ids) of a resident's
// recorded codes, and the code id behind each.
func (n *Node) codeTargets(ctx context.Context, subjectID string) (map[string]string, []string, error) {
	jtis, err := n.db.CodesOf(ctx, subjectID, maxCodesAsked)
	if err != nil {
		return nil, nil, err
	}
	byTarget := make(map[string]string, len(jtis))
	targets := make([]string, 0, len(jtis))
	for _, jti := range jtis {
		h := hashJTI(n.cfg.Province, jti)
		byTarget[h] = jti
		targets = append(targets, h)
	}
	return byTarget, targets, nil
}
