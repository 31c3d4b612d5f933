package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Verification receipts (the cross-province part of the right to know):
// when this node verifies a valid code of another province, it queues
// {code id, kind of place, day} for that province — never the scanner,
// never the time of day — and every privacy.receipts_every (default an
// hour) sends each home node one signed batch sealed to it, entries
// deduplicated and sorted so that their order says nothing either. The
// home node records each entry against its own code in its audit log, so
// its resident can see "verified in 310000 at a station on 2026-11-30".
//
// The trade-off: the home province learns in which province, at what kind
// of place and on which day its resident's code was scanned elsewhere. It
// is the resident's own health authority, which issued the code and holds
// their identity already; the resident's right to know where their code
// was used needs someone to hold it, and the home node is the one the
// resident can ask. The privacy notice the resident consents to says so,
// and a province whose config says privacy.receipts: off neither sends
// receipts nor records those sent to it (it discards them unread). No
// other member learns it (receipts are sealed), the visited province keeps
// what it kept before, and sending is fire and forget: a home node that is
// away misses the receipts sent meanwhile.

// Receipt limits.
const (
	// actionPeerVerify is the home node's audit action for a
	// verification of one of its codes in another province.
	actionPeerVerify = "code.verify.peer"
	// maxQueuedReceipts bounds what waits to be sent (an entry is about
	// 150 bytes in memory); beyond it new entries are dropped and
	// counted, as a receipt is best effort.
	maxQueuedReceipts = 200_000
)

// Events counted by hcfed_receipts_total.
const (
	receiptQueued   = "queued"      // entries queued to send
	receiptWithheld = "withheld"    // entries not queued: privacy.receipts is off
	receiptDropped  = "dropped"     // entries not queued: the queue is full
	receiptSent     = "sent"        // entries sent
	receiptRecorded = "recorded"    // entries recorded for this province's residents
	receiptUnproven = "unproven"    // entries received and not recorded: without the code's proof of scan
	receiptRepeated = "repeated"    // entries received and not recorded: recorded before, or past MaxReceiptPlacesPerDay
	receiptIgnored  = "ignored"     // receipts received and discarded unread: privacy.receipts is off
	receiptRefused  = intakeRefused // receipts received that failed their checks
	receiptLimited  = intakeLimited // receipts received and verified, and not recorded: beyond the sender's receiptRate
)

// receiptMetric registers hcfed_receipts_total on r.
func receiptMetric(r *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcfed_receipts_total",
		Help: "Verification receipts: entries queued, withheld (receipts off), dropped (queue full), sent, " +
			"recorded, unproven (received without the code's proof of scan) and repeated (recorded before, or past " +
			"the kinds of place a code is recorded at in a day), those two not recorded; whole receipts received " +
			"and ignored (receipts off), refused (forged, or replays) or not recorded (past the sending province's rate)."}, []string{"event"})
	r.MustRegister(c)
	// Every event from 0, so that rate() and increase() see the first.
	for _, ev := range []string{receiptQueued, receiptWithheld, receiptDropped, receiptSent, receiptRecorded, receiptUnproven, receiptRepeated,
		receiptIgnored, receiptRefused, receiptLimited} {
		c.WithLabelValues(ev)
	}
	return c
}

// receiptQueue holds entries waiting to be sent, by home province, as
// sets: a code scanned at the same kind of place twice in a day is one
// entry.
type receiptQueue struct {
	mu      sync.Mutex
	byHome  map[string]map[trust.ReceiptEntry]struct{}
	n       int
	dropped int
}

// add queues e for home and returns the event to count, or "" for an
// entry already queued.
func (q *receiptQueue) add(home string, e trust.ReceiptEntry) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	set := q.byHome[home]
	if _, dup := set[e]; dup {
		return ""
	}
	if q.n >= maxQueuedReceipts {
		q.dropped++
		return receiptDropped
	}
	if set == nil {
		if q.byHome == nil {
			q.byHome = map[string]map[trust.ReceiptEntry]struct{}{}
		}
		set = map[trust.ReceiptEntry]struct{}{}
		q.byHome[home] = set
	}
	set[e] = struct{}{}
	q.n++
	return receiptQueued
}

// take empties the queue and returns what it held, each home's entries
// sorted, and how many entries were dropped since the last take.
func (q *receiptQueue) take() (map[string][]trust.ReceiptEntry, int) {
	q.mu.Lock()
	all, dropped := q.byHome, q.dropped
	q.byHome, q.n, q.dropped = nil, 0, 0
	q.mu.Unlock()
	out := make(map[string][]trust.ReceiptEntry, len(all))
	for home, set := range all {
		es := make([]trust.ReceiptEntry, 0, len(set))
		for e := range set {
			es = append(es, e)
		}
		slices.SortFunc(es, func(a, b trust.ReceiptEntry) int {
			return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.JTI, b.JTI), cmp.Compare(a.Place, b.Place))
		})
		out[home] = es
	}
	return out, dropped
}

// noteVerification queues a receipt for the home node of a valid code of
// another province, with the code's proof of scan (ForeignScanProof), if
// receipts are on and the node is connected. The kind of place is sent
// only if it is a short lowercase token; anything else is sent as
// "other", so no free-text location leaves the province. Without a proof
// (a record of a replica older than proofs) nothing is queued: the home
// node would not record it.
func (rs *records) noteVerification(res trust.Result, place, proof string, now time.Time) {
	if !res.Valid() || res.Issuer == rs.province || proof == "" {
		return
	}
	if rs.receipts == config.ReceiptsOff {
		rs.metrics.Receipts.WithLabelValues(receiptWithheld).Inc()
		return
	}
	p := rs.peers.Load()
	if p == nil {
		return
	}
	if place = strings.ToLower(place); !trust.ValidPlace(place) {
		place = "other"
	}
	if ev := p.receipts.add(res.Issuer, trust.ReceiptEntry{JTI: res.JTI, Place: place, Day: trust.ReceiptDay(now), Proof: proof}); ev != "" {
		rs.metrics.Receipts.WithLabelValues(ev).Inc()
	}
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
		ks, err := peerKeys(p.n.state, home)
		if err != nil || ks.EncKey == nil || !activeMember(p.n.state, home) {
			continue
		}
		for len(es) > 0 {
			batch := es[:min(len(es), trust.MaxReceiptEntries)]
			es = es[len(batch):]
			if err := p.sendReceipt(ctx, home, ks, batch, now); err != nil {
				p.log.Warn("verification receipt not sent", "home", home, "entries", len(batch), "err", err)
				continue
			}
			p.n.metrics.Receipts.WithLabelValues(receiptSent).Add(float64(len(batch)))
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
// node issued and still links to its holder, with that code's proof of
// scan, goes into the audit log, against the code's hashed id, as the
// resident's own verifications do. An entry without the code's proof is
// counted (unproven) and not recorded: code ids are no secret, and a
// member must not write into a resident's history that their code was
// verified where it never was. An entry is recorded once per province,
// code, day and kind of place, and at most MaxReceiptPlacesPerDay kinds
// of place for one code in a day (receiptPlaces); the others are counted
// (repeated).
// With privacy.receipts off the receipt is discarded unread. A receipt
// gets no reply. An erasure, which travels on the same subject, is
// applied instead, and its acknowledgement returned (erasure.go).
func (p *Peers) receive(verifier string, raw []byte) []byte {
	n := p.n
	if trust.IsSealedErasure(string(raw)) { // a home province's erasure, on the same subject (erasure.go)
		return n.lookups.erased(p, verifier, raw)
	}
	if n.cfg.Privacy.Receipts == config.ReceiptsOff {
		n.metrics.Receipts.WithLabelValues(receiptIgnored).Inc()
		p.log.Debug("verification receipt ignored: privacy.receipts is off", "from", verifier)
		return nil
	}
	now := n.now()
	ks, err := peerKeys(n.state, verifier)
	if err == nil && !activeMember(n.state, verifier) {
		err = &trust.Error{Reason: trust.ReasonNotMember}
	}
	var r *trust.Receipt
	if err == nil {
		err = p.receiptIntake.open(verifier, raw, now, func() error {
			var err error
			if r, err = trust.OpenReceipt(string(raw), verifier, ks.Signing, n.cfg.Province, n.keys.encKey(), now); err != nil {
				return err
			}
			return p.receiptNonces.Use(verifier, r.Nonce, r.IssuedAt, now)
		})
	}
	// Only a verified receipt is charged to verifier's receiptRate: a
	// flood of forgeries in its name must not make its real receipts be
	// dropped (peerintake.go).
	if p.receiptIntake.admit(p.log, verifier, err, now) != intakeTaken {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	recorded, err := p.recordReceipt(ctx, verifier, r.Entries, now)
	if err != nil {
		p.log.Error("verification receipt not recorded", "from", verifier, "err", err)
		return nil
	}
	n.metrics.Receipts.WithLabelValues(receiptRecorded).Add(float64(recorded))
	return nil
}

// recordReceipt writes into the audit log, in one batch, the entries of
// a verified receipt from verifier that receive records, counting the
// others (unproven, repeated), and returns how many it wrote. On an
// error none is written.
func (p *Peers) recordReceipt(ctx context.Context, verifier string, received []trust.ReceiptEntry, now time.Time) (int, error) {
	n := p.n
	actor := "peer:" + verifier
	held := newReceiptPlaces(actor)
	var entries []store.AuditEntry
	for _, e := range received {
		code, err := n.db.Code(ctx, e.JTI)
		if errors.Is(err, store.ErrNotFound) || (err == nil && code.SubjectID == "") {
			continue // not ours, or its holder is gone: nobody to tell
		}
		if err != nil {
			return 0, err
		}
		if !trust.CheckScanProof(e.Proof, code.ScanDigest) {
			n.metrics.Receipts.WithLabelValues(receiptUnproven).Inc()
			continue
		}
		target := hashJTI(n.cfg.Province, e.JTI)
		fresh, err := held.take(ctx, n.db, target, e.Day, e.Place)
		if err != nil {
			return 0, err
		}
		if !fresh {
			n.metrics.Receipts.WithLabelValues(receiptRepeated).Inc()
			continue
		}
		entries = append(entries, newAuditEntry(now, actor, actionPeerVerify, target, peerVerifyDetail{Place: e.Place, Day: e.Day}))
	}
	// Written before the next receipt is read, so that it finds them.
	if err := n.db.AppendAuditBatch(ctx, entries); err != nil {
		return 0, err
	}
	return len(entries), nil
}

// peerVerifyDetail is what the audit log keeps of a verification
// elsewhere: the kind of place and the day. T is read only, from entries
// written before receipts carried days.
type peerVerifyDetail struct {
	Place string `json:"place,omitempty"`
	Day   string `json:"day,omitempty"`
	T     int64  `json:"t,omitempty"`
}

// day is the entry's receipt day, and its start.
func (d peerVerifyDetail) day() (string, time.Time, error) {
	day := d.Day
	if day == "" && d.T != 0 {
		day = trust.ReceiptDay(time.Unix(d.T, 0))
	}
	start, err := trust.ParseReceiptDay(day)
	return day, start, err
}

// ForeignVerifications lists the verifications of a resident's codes by
// other provinces' scanners that those provinces reported in receipts,
// newest first, in the shape of Verifications (Province is the verifying
// province; Valid is always true: only valid codes are reported; Day is
// the day and Time its start, as a receipt carries no time of day; one
// record per code, province, kind of place and day). It is the hook
// through which GET /v1/subjects/{id}/verifications shows them.
func (n *Node) ForeignVerifications(ctx context.Context, p Principal, subjectID string) ([]VerificationRecord, error) {
	return n.records.foreignVerifications(ctx, p, subjectID)
}

// foreignVerifications implements Node.ForeignVerifications.
func (rs *records) foreignVerifications(ctx context.Context, p Principal, subjectID string) ([]VerificationRecord, error) {
	if err := requireSubject(p, subjectID); err != nil {
		return nil, err
	}
	byTarget, targets, err := rs.codeTargets(ctx, subjectID)
	if err != nil {
		return nil, internal("foreign verifications", err)
	}
	entries, err := rs.db.AuditByTargetsPerActor(ctx, actionPeerVerify, targets, maxForeignPerProvince, maxVerificationsListed)
	if err != nil {
		return nil, internal("foreign verifications", err)
	}
	out := make([]VerificationRecord, 0, len(entries))
	seen := map[[4]string]bool{}
	for _, e := range entries {
		var d peerVerifyDetail
		province, ok := strings.CutPrefix(e.Actor, "peer:")
		if !ok || json.Unmarshal([]byte(e.Detail), &d) != nil {
			continue
		}
		day, start, err := d.day()
		if err != nil || seen[[4]string{e.Target, province, d.Place, day}] {
			continue
		}
		seen[[4]string{e.Target, province, d.Place, day}] = true
		out = append(out, VerificationRecord{Time: start, Day: day, JTI: byTarget[e.Target], Place: d.Place,
			Reason: string(trust.ReasonOK), Valid: true, Province: province})
	}
	return out, nil
}

// codeTargets returns the audit targets (hashed code ids) of a resident's
// recorded codes, and the code id behind each.
func (rs *records) codeTargets(ctx context.Context, subjectID string) (map[string]string, []string, error) {
	jtis, err := rs.db.CodesOf(ctx, subjectID, maxCodesAsked)
	if err != nil {
		return nil, nil, err
	}
	byTarget := make(map[string]string, len(jtis))
	targets := make([]string, 0, len(jtis))
	for _, jti := range jtis {
		h := hashJTI(rs.province, jti)
		byTarget[h] = jti
		targets = append(targets, h)
	}
	return byTarget, targets, nil
}
