package node

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// Limits of the access.refused audit entries.
const (
	// refusalWindow is how often at most one actor's refusals of one
	// route are written to the audit log. The first of a window is
	// written; the others are counted, and the first written after the
	// window says how many were not ("repeated"). Without it, a stolen
	// token looping on a refused route appended one hash-chained, fsynced
	// entry per request: a cheap way to fill the disk and to slow the one
	// writer that issuance shares.
	refusalWindow = time.Minute
	// refusalPairsMax is how many (actor, route) pairs are remembered at
	// once. When it is reached, the pairs whose window has ended are
	// forgotten (with the count of their refusals not written); when none
	// has ended, a refusal of a pair not remembered is counted under its
	// role's shared actor instead (the role alone: "resident",
	// "scanner"), whose pairs have refusalSharedMax more places: many
	// residents' (or scanners') stolen tokens at once are then audited
	// together, as one actor. Past those too, a refusal is counted in
	// hcfed_access_refused_total only, not written, and the node warns.
	refusalPairsMax = 4096
	// refusalSharedMax is how many pairs of the roles' shared actors are
	// remembered beyond refusalPairsMax: far more than roles times
	// routes.
	refusalSharedMax = 256
)

// actionAccessRefused is the audit action of a token refused a route as
// forbidden; its target is the route asked for (method and pattern,
// never an id).
const actionAccessRefused = "access.refused"

// refusalRoles are the roles whose refusals are recorded, each the role
// label of hcfed_access_refused_total (an admin is an operator).
var refusalRoles = []Role{RoleOperator, RoleFeed, RoleScanner, RoleResident}

// refusalDetail is the detail of an access.refused entry: how many
// refusals of the same actor and route, since its previous entry, were
// counted and not written. Summary marks an entry that is no refusal of
// its own: the pair's window ended (or the node stopped) with Repeated
// refusals counted and none after them to carry the count
// (refusalAudit.writeCounts).
type refusalDetail struct {
	Repeated int  `json:"repeated"`
	Summary  bool `json:"summary,omitempty"`
}

// RecordRefusal records in the audit log that p was refused route as
// forbidden, under the actor the audit log knows p by: an account's
// token ("operator:NAME", "feed:NAME"), a scanner's ("scanner:ID": a
// checkpoint device, the token most likely to be stolen) or a
// resident's ("resident:SUBJECT": the random subject id the audit log
// already names them by, in the target of their own actions and of
// operators' reads of their record; no name, ID number or phone), so
// that one resident looping on a refused route hides no other's
// refusals. A feed token trying enrolment, a scanner token trying
// lookups, a resident's token trying another's record is what a stolen
// one does first, as a clerk's trying the keys is (permitAdmin).
//
// At most one entry per actor and route is written per refusalWindow;
// the next one written says how many were not. Every refusal is counted
// in hcfed_access_refused_total{role}. node/api calls it for every
// forbidden answer; a refusal that should be written but cannot be is an
// internal error, and the next one is written, with it counted.
func (n *Node) RecordRefusal(ctx context.Context, p Principal, route string) error {
	return n.refusals.record(ctx, p, route)
}

// refusalAudit writes the access.refused entries that refusals decides
// to the audit log, counts every refusal in hcfed_access_refused_total
// and warns of those neither written nor remembered. It reaches the
// database, the logger, the metrics and the clock it is given; none of
// this state lives on Node, which keeps RecordRefusal as its exported
// entry point and calls writeCounts from Tick and Close.
type refusalAudit struct {
	counts  *refusals
	db      *store.DB
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// newRefusalAudit builds the node's refusal audit over counts.
func newRefusalAudit(counts *refusals, db *store.DB, log *slog.Logger, m *Metrics, now func() time.Time) *refusalAudit {
	return &refusalAudit{counts: counts, db: db, log: log, metrics: m, now: now}
}

// record is RecordRefusal.
func (ra *refusalAudit) record(ctx context.Context, p Principal, route string) error {
	if !refusalRecorded(p) {
		return nil
	}
	ra.metrics.AccessRefused.WithLabelValues(string(p.Role)).Inc()
	now := ra.now()
	pair, write, repeated := ra.counts.take(refusalPair{actor: refusalActor(p), route: route},
		refusalPair{actor: string(p.Role), route: route}, now)
	if lost := ra.counts.unaudited(now); lost > 0 {
		ra.log.Warn("refused requests were counted in hcfed_access_refused_total but not audited: more actors were refused "+
			"more routes within a minute than the node keeps track of; look for many stolen tokens at once",
			"unaudited", lost, "pairs_max", refusalPairsMax)
	}
	if !write {
		return nil
	}
	var detail any
	if repeated > 0 {
		detail = refusalDetail{Repeated: repeated}
	}
	if err := ra.db.AppendAudit(ctx, newAuditEntry(now, pair.actor, actionAccessRefused, route, detail)); err != nil {
		ra.counts.unwritten(pair, repeated)
		return internal("audit refusal", err)
	}
	return nil
}

// writeCounts writes the counts of refusals not written that no
// later refusal would carry: for each pair whose window has ended at now
// (every pair, with all: the node is stopping and forgets them) with
// refusals counted since its last entry, one summary entry saying how
// many. Without it a burst — a stolen token trying a route a thousand
// times within a minute, then stopping — left one entry in the audit log
// and its count in memory only. Node.Tick calls it, and Node.Close with
// all. A count that cannot be written is kept for the next try.
func (ra *refusalAudit) writeCounts(ctx context.Context, now time.Time, all bool) error {
	sums := ra.counts.ended(now, all)
	entries := make([]store.AuditEntry, len(sums))
	for i, c := range sums {
		entries[i] = newAuditEntry(now, c.pair.actor, actionAccessRefused, c.pair.route, refusalDetail{Repeated: c.repeated, Summary: true})
	}
	if err := ra.db.AppendAuditBatch(ctx, entries); err != nil {
		for _, c := range sums {
			ra.counts.giveBack(c.pair, c.repeated)
		}
		return fmt.Errorf("audit refusal counts: %w", err)
	}
	return nil
}

// refusalRecorded reports whether p's refusals are recorded: a token of
// an account, a scanner or a resident. A principal made in code, which
// names none, is not.
func refusalRecorded(p Principal) bool {
	switch p.Role {
	case RoleOperator, RoleFeed:
		return p.Account != ""
	case RoleScanner:
		return p.ScannerID != ""
	case RoleResident:
		return p.SubjectID != ""
	}
	return false
}

// refusalActor is the actor of p's refusals: a resident by their subject
// id, anyone else as the audit log names them (Principal.Actor).
func refusalActor(p Principal) string {
	if p.Role == RoleResident {
		return string(RoleResident) + ":" + p.SubjectID
	}
	return p.Actor()
}

// refusalPair is what refusals are counted by: who, and which route.
type refusalPair struct{ actor, route string }

// refusalCount is one pair's window.
type refusalCount struct {
	written  time.Time // when the pair's last entry was written; zero: write the next
	repeated int       // refusals since then, not written
}

// refusals decides which refusals are written to the audit log: the
// first of each pair per refusalWindow. It remembers at most limit
// pairs, and refusalSharedMax more of the roles' shared actors.
type refusals struct {
	mu    sync.Mutex
	limit int
	pairs map[refusalPair]*refusalCount
	// pruneAt is when the earliest window of a full map ends: until then
	// pruning would free nothing, and the map is not scanned.
	pruneAt time.Time
	// lost counts refusals neither written nor remembered: of pairs not
	// remembered while the map was full, and the unwritten counts of
	// pairs forgotten. warned is when the node last warned of them.
	lost   int
	warned time.Time
}

func newRefusals(limit int) *refusals {
	return &refusals{limit: limit, pairs: map[refusalPair]*refusalCount{}}
}

// take counts a refusal of pair at now — or of shared, the same route
// under the role's shared actor, if pair is not remembered and there is
// no room for it — and says which pair it was counted under, whether to
// write it and how many of that pair's refusals before it were not
// written.
func (r *refusals) take(pair, shared refusalPair, now time.Time) (counted refusalPair, write bool, repeated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.pairs[pair]
	if !ok && len(r.pairs) >= r.limit && !r.prune(now) {
		pair = shared
		if c, ok = r.pairs[pair]; !ok && len(r.pairs) >= r.limit+refusalSharedMax {
			r.lost++
			return pair, false, 0
		}
	}
	if !ok {
		c = &refusalCount{}
		r.pairs[pair] = c
	}
	if !c.written.IsZero() && now.Before(c.written.Add(refusalWindow)) {
		c.repeated++
		return pair, false, 0
	}
	repeated = c.repeated
	c.written, c.repeated = now, 0
	return pair, true, repeated
}

// unwritten undoes a take that said to write, for an entry that could
// not be written: the refusal and the repeated ones are counted again,
// and the pair's next refusal is written.
func (r *refusals) unwritten(pair refusalPair, repeated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.pairs[pair]
	if !ok {
		// Forgotten in between (the map was full): nowhere to keep the count.
		r.lost += repeated + 1
		return
	}
	c.written = time.Time{}
	c.repeated += repeated + 1
}

// refusalSum is a pair's count of refusals not written.
type refusalSum struct {
	pair     refusalPair
	repeated int
}

// ended forgets the pairs whose window has ended at now (every pair,
// with all) and returns those with refusals counted and not written, by
// actor and route.
func (r *refusals) ended(now time.Time, all bool) []refusalSum {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []refusalSum
	for pair, c := range r.pairs {
		if !all && !c.written.IsZero() && now.Before(c.written.Add(refusalWindow)) {
			continue
		}
		if c.repeated > 0 {
			out = append(out, refusalSum{pair: pair, repeated: c.repeated})
		}
		delete(r.pairs, pair)
	}
	r.pruneAt = time.Time{}
	slices.SortFunc(out, func(a, b refusalSum) int {
		return cmp.Or(cmp.Compare(a.pair.actor, b.pair.actor), cmp.Compare(a.pair.route, b.pair.route))
	})
	return out
}

// giveBack counts again repeated refusals of pair that ended took and
// that could not be written: the pair's next entry, or the next ended,
// says them; with no room left for the pair they are lost.
func (r *refusals) giveBack(pair refusalPair, repeated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.pairs[pair]
	if !ok {
		if len(r.pairs) >= r.limit {
			r.lost += repeated
			return
		}
		c = &refusalCount{}
		r.pairs[pair] = c
	}
	c.repeated += repeated
}

// prune forgets the pairs whose window has ended at now (a pair not
// written since is forgotten with its count, as lost) and reports
// whether any was. Until the earliest remaining window ends, it does not
// scan again.
func (r *refusals) prune(now time.Time) bool {
	if now.Before(r.pruneAt) {
		return false
	}
	var next time.Time
	freed := false
	for pair, c := range r.pairs {
		end := c.written.Add(refusalWindow)
		if c.written.IsZero() || !now.Before(end) {
			r.lost += c.repeated
			delete(r.pairs, pair)
			freed = true
			continue
		}
		if next.IsZero() || end.Before(next) {
			next = end
		}
	}
	if !freed {
		r.pruneAt = next
	}
	return freed
}

// unaudited returns the refusals lost since the last warning, at most
// once per refusalWindow (0 otherwise), for the node to warn of.
func (r *refusals) unaudited(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost == 0 || (!r.warned.IsZero() && now.Before(r.warned.Add(refusalWindow))) {
		return 0
	}
	lost := r.lost
	r.lost, r.warned = 0, now
	return lost
}
