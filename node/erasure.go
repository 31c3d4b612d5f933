package node

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
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
// The erasures go through an outbox (migration 0017), as revocations do:
// the deletion queues them in its own transaction, so a crash cannot
// commit one without the other, and the sender (Peers.runErasures) sends
// each until its province acknowledges it (trust.ErasureAck, which only
// that province can make), retrying on erasureBackoff while it is away,
// and at once when its heartbeat shows it back (erasure_sender.go). Each
// province's erasures are sent on a schedule of their own, by a sender
// of their own, so a province that does not answer delays no other's.
// An erasure expires, unsent, when the copy it is about has ended with
// the province's lookup retention anyway (at most
// config.MaxLookupRetention after the lookup). Each erasure is in the
// audit log at both ends once delivered or expired, without personal
// data; applying one twice deletes nothing more.

// Audit actions of erasures.
const (
	actionLookupErase  = "lookup.erase"  // home: told an asker to delete, or gave up (target: the subject)
	actionLookupErased = "lookup.erased" // asker: deleted what a home province said
)

// Erasure outbox limits.
const (
	// maxPendingErasuresPerAsker is each province's share of the erasure
	// outbox (a row is a province and up to trust.MaxErasureCodes hashed
	// code ids). A province that never acknowledges keeps its erasures
	// until they expire (config.MaxLookupRetention), and one that looked
	// many residents up fills its share; beyond it that province's
	// erasures are counted as dropped, logged and audited unsent — it
	// keeps its copies until its lookup retention ends — and the other
	// provinces' erasures are queued as before. The deletion still
	// deletes. A share drains in about 19 minutes at erasureSendRate.
	maxPendingErasuresPerAsker = 20_000
	// maxPendingErasures bounds the whole outbox, for its disk: ten
	// provinces' full shares. It is reached only if ten provinces all
	// leave their erasures unacknowledged; beyond it every province's
	// erasures are dropped as above.
	maxPendingErasures = 10 * maxPendingErasuresPerAsker
	// erasuresPerPass bounds the erasures to one province its sender
	// reads at a time.
	erasuresPerPass = 100
	// erasureAskersListed bounds the provinces one pass of the sender
	// reads (far more than a federation has members).
	erasureAskersListed = 1000
	// erasureSenders bounds the provinces sent to at the same time: a
	// province that does not answer holds one sender for up to
	// erasureAckTimeout an attempt, and the others go on.
	erasureSenders = 8
	// erasureAckTimeout bounds the wait for one erasure's acknowledgement
	// (Peers.ErasureAckTimeout's default).
	erasureAckTimeout = 5 * time.Second
	// erasureReviveEvery is the least time between two revivals of one
	// province's erasures by its heartbeat (see Peers.PeerHeartbeat): a
	// member publishes heartbeats as often as it likes.
	erasureReviveEvery = 10 * time.Second
	// erasureHeartbeatGap is how long a province may go unheard before
	// its next heartbeat counts as its return: the View's staleness.
	erasureHeartbeatGap = federation.DefaultStaleAfter
)

// erasureBackoff spaces the attempts at one erasure whose province did
// not acknowledge it (Peers.ErasureRetry's default): an away province is
// tried again within minutes of its return, and one that applies without
// acknowledging (an older node) is not flooded.
var erasureBackoff = backoff.Policy{Min: time.Second, Max: 10 * time.Minute}

// Events counted by hcfed_erasures_total.
const (
	erasureSent    = "sent"        // acknowledged by the province, and deleted from the outbox
	erasureFailed  = "failed"      // attempts not acknowledged: tried again later
	erasureExpired = "expired"     // never acknowledged, until the province's copy ended anyway
	erasureDropped = "dropped"     // not queued: the outbox was full
	erasureRefused = intakeRefused // received and refused: not opened, not verified, or a replay
	erasureLimited = intakeLimited // received and verified, and not applied: beyond the province's erasureRate
)

// erasing is one deletion's erasures: the plan the store carries out in
// the deletion's transaction, and what it queued and dropped.
type erasing struct {
	l              *lookups
	actor, subject string
	queued         int
	dropped        []store.Erasure
}

// erasing prepares the erasures of subjectID's deletion by actor.
func (l *lookups) erasing(actor, subjectID string) *erasing {
	return &erasing{l: l, actor: actor, subject: subjectID}
}

// plan is what the store reads and queues in the deletion's transaction.
func (e *erasing) plan() store.ErasurePlan {
	return store.ErasurePlan{Action: actionLookupAnswer, Limit: maxLookupsListed, Make: e.make}
}

// make turns the lookup answers about the subject into one erasure per
// asking province (and per trust.MaxErasureCodes codes), each expiring
// when that province's copy from the newest answer would have ended
// anyway; an answer whose copy has ended already needs none.
func (e *erasing) make(entries []store.AuditEntry, pending store.ErasuresPending) []store.Erasure {
	now := e.l.now()
	byAsker, newest := map[string][]string{}, map[string]time.Time{}
	for _, a := range entries {
		var d answerDetail
		asker, ok := strings.CutPrefix(a.Actor, "peer:")
		if !ok || json.Unmarshal([]byte(a.Detail), &d) != nil || !d.Found || d.JTI == "" {
			continue
		}
		if !slices.Contains(byAsker[asker], d.JTI) {
			byAsker[asker] = append(byAsker[asker], d.JTI)
		}
		if a.Time.After(newest[asker]) {
			newest[asker] = a.Time
		}
	}
	var out []store.Erasure
	e.queued, e.dropped = 0, nil // the transaction may run again
	for _, asker := range slices.Sorted(maps.Keys(byAsker)) {
		expires := newest[asker].Add(config.MaxLookupRetention + trust.ClockSkew)
		if !expires.After(now) {
			continue
		}
		held := pending.ByAsker[asker]
		for codes := range slices.Chunk(byAsker[asker], trust.MaxErasureCodes) {
			er := store.Erasure{Asker: asker, Codes: codes, Subject: e.subject, Actor: e.actor, Created: now, Expires: expires}
			if held >= maxPendingErasuresPerAsker || pending.Total+len(out) >= maxPendingErasures {
				e.dropped = append(e.dropped, er)
				continue
			}
			held++
			out = append(out, er)
		}
	}
	e.queued = len(out)
	return out
}

// done reports the deletion's erasures once it committed, and wakes the
// sender.
func (e *erasing) done() {
	l := e.l
	for _, er := range e.dropped {
		l.metrics.Erasures.WithLabelValues(erasureDropped).Inc()
		l.audit(er.Actor, actionLookupErase, er.Subject, map[string]any{"to": er.Asker, "codes": len(er.Codes), "sent": false})
		l.log.Error("lookup erasure not queued: the province's share of the erasure outbox, or the outbox, is full "+
			"(it leaves erasures unacknowledged); it keeps its copy until its lookup retention ends",
			"to", er.Asker, "limit", maxPendingErasuresPerAsker, "outbox_limit", maxPendingErasures)
	}
	if e.queued > 0 {
		l.metrics.ErasuresPending.Add(float64(e.queued))
		kick(l.erasureKick)
	}
}

// sendErasure signs, seals and sends one erasure to asker, and waits for
// its acknowledgement. Each attempt is a new erasure, with a nonce of its
// own: an acknowledgement acknowledges one attempt only.
func (l *lookups) sendErasure(ctx context.Context, p *Peers, asker string, codes []string) error {
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
	e := trust.Erasure{Issuer: l.province, To: asker, IssuedAt: l.now().Unix(), Nonce: nonce, Codes: codes}
	raw, err := trust.SealErasure(l.keys.signer.Load(), e, ks.EncKey)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.ErasureAckTimeout)
	defer cancel()
	_, err = p.conn.RequestErasure(ctx, asker, []byte(raw), func(reply []byte) error { return trust.CheckErasureAck(e, reply) })
	return err
}

// erased applies an erasure from home, received over p: the lookups home
// answered about the codes it names are deleted, and the acknowledgement
// to reply is returned (nil, to stay silent, if it was not applied). It
// shares the receipts' replay cache, as it shares their subject, but has
// a rate limit of its own (erasureRate), which only an erasure that
// opened, verified and was not a replay is charged (peerintake.go): a
// flood of forgeries in home's name neither delays its real erasures nor
// fills the log. A suspended home province's erasure is applied too: it
// deletes only what that province itself gave. An erasure about codes
// already erased deletes nothing and is acknowledged.
func (l *lookups) erased(p *Peers, home string, raw []byte) []byte {
	now := l.now()
	ks, err := peerKeys(l.state, home)
	var e *trust.Erasure
	if err == nil {
		err = p.erasureIntake.open(home, raw, now, func() error {
			var err error
			if e, err = trust.OpenErasure(string(raw), home, ks.Signing, l.province, l.keys.encKey(), now); err != nil {
				return err
			}
			return p.receiptNonces.Use(home, e.Nonce, e.IssuedAt, now)
		})
	}
	if p.erasureIntake.admit(p.log, home, err, now) != intakeTaken {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	n, err := l.db.DeleteLookupsOf(ctx, home, e.Codes)
	if err != nil {
		p.log.Error("lookup erasure not applied", "from", home, "err", err)
		return nil
	}
	l.audit("peer:"+home, actionLookupErased, "", map[string]any{"codes": len(e.Codes), "deleted": n})
	l.metrics.Deleted.WithLabelValues("lookup", "erasure").Add(float64(n))
	return trust.ErasureAck(*e)
}
