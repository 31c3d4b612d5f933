package federation

import (
	"context"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Revocation deltas arrive on one stream, all provinces interleaved. Each
// province's deltas must be applied in its own seq order. A delta whose
// seq is already covered (by an earlier delta or a snapshot) is skipped
// after reading its seq from the unverified payload: skipping is always
// safe, since a forged message could only have been refused. Only a delta
// that would be applied is verified.
//
// When a province's next delta is not the next seq (a gap: deltas lost,
// or aged out of the stream), or it arrives before the province's keyset
// or before the keyset that lists or activates its key (waitsForKeyset),
// that province is blocked: its later deltas are parked, in seq order and
// up to a bound, while other provinces go on. While it waits for a
// keyset, the next seq is still applied as it arrives if it verifies. The catch-up worker fills a
// gap from the province's snapshot, asking the home node for a fresh one
// if the stored one is too old, and then the parked deltas are applied.
// The saved stream cursor never passes the first message of a blocked
// province, so a restart re-reads (and cheaply skips) rather than loses.

const (
	// cursorEvery is how many messages may be handled between two saves
	// of the stream cursor while catching up.
	cursorEvery = 1024
	// compactAfter is how many deltas of a province may be cached after
	// its last cached snapshot before the worker fetches a newer snapshot
	// to cache instead, so Restore stays quick.
	compactAfter = 1024
	// maxStrangerPointers bounds the snapshot pointers held of provinces
	// the trust list held does not name: a province about to join keeps
	// its pointer, but anyone writing keys under made-up province ids
	// cannot grow the map without bound. A stranger's pointer past the
	// bound is refused (not_member); once listed, the province catches up
	// from its next pointer or, at a gap, from its snapshot.
	maxStrangerPointers = 64
)

// revTracker is the revocation progress of every province. Sync.mu
// guards it.
type revTracker struct {
	blocked    map[string]*revQueue
	pointers   map[string]*pointerSeen // latest revsnapshot pointer per province
	snapWaits  map[string]*snapWait    // provinces whose stored snapshot waits for a keyset
	fetches    map[string]*snapFetch   // when each province's snapshot may be downloaded next (snapfetch.go)
	cachedSnap map[string]uint64       // seq of the snapshot cached per province
	deltas     map[string]int          // deltas cached since that snapshot

	last      uint64 // last stream sequence handled
	saved     uint64 // last stream sequence saved as the cursor
	sinceSave int
	catchUpTo uint64 // stream's last sequence when the connection came up (caughtup.go)
	// born is when the stream that last, saved and every holdFrom count
	// in was created (revstream.go).
	born time.Time
}

func newRevTracker() revTracker {
	return revTracker{blocked: map[string]*revQueue{}, pointers: map[string]*pointerSeen{},
		snapWaits: map[string]*snapWait{}, fetches: map[string]*snapFetch{}, cachedSnap: map[string]uint64{},
		deltas: map[string]int{}}
}

// pointerSeen is the latest snapshot pointer of a province.
type pointerSeen struct {
	seq      uint64
	digest   string // of the snapshot it names, as the pointer claims
	seen     time.Time
	attempts int
	nextTry  time.Time
}

func (r *revTracker) snapshotCached(p string, seq uint64) {
	r.cachedSnap[p] = max(r.cachedSnap[p], seq)
	r.deltas[p] = 0
}

func (r *revTracker) deltaCached(p string) { r.deltas[p]++ }

// retryPointerNow makes p's snapshot due again at once, after its keyset
// changed (the snapshot may have failed for want of it).
func (r *revTracker) retryPointerNow(p string) {
	if ptr := r.pointers[p]; ptr != nil {
		ptr.nextTry, ptr.attempts = time.Time{}, 0
	}
	if q := r.blocked[p]; q != nil {
		q.nextTry = time.Time{}
	}
	if w := r.snapWaits[p]; w != nil {
		w.recheck = true
	}
}

// cursor is the stream sequence up to which every message is handled.
func (r *revTracker) cursor() uint64 {
	c := r.last
	for _, q := range r.blocked {
		c = min(c, q.holdFrom-1)
	}
	return c
}

// consume starts the revocation consumer after the cached cursor, in the
// stream it counts in (see startCursor).
func (s *Sync) consume(ctx context.Context) error {
	cursor, b, err := s.startCursor(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.revs.last, s.revs.saved, s.revs.catchUpTo, s.revs.born = cursor, cursor, b.last, b.created
	s.persist.reset(cursor)
	s.mu.Unlock()
	return s.conn.consumeRevocations(ctx, cursor+1, b.created, s.onRevocation)
}

// onRevocation is the revocation consumer's handler.
func (s *Sync) onRevocation(m RevocationMsg) error {
	if !s.enter() {
		return nil
	}
	defer s.exit()
	s.mu.Lock()
	defer s.unlock()
	if !m.StreamCreated.IsZero() && !m.StreamCreated.Equal(s.revs.born) {
		s.streamRecreated(m)
	}
	if !m.Dropped {
		s.handleDelta(m)
	}
	s.revs.last = max(s.revs.last, m.StreamSeq)
	s.revs.sinceSave++
	if m.Pending == 0 || s.revs.sinceSave >= cursorEvery {
		s.saveCursor()
	}
	s.checkCaughtUpSoon(m.StreamSeq, m.Pending)
	return nil
}

// handleDelta skips, applies or parks one delta. Callers hold s.mu.
func (s *Sync) handleDelta(m RevocationMsg) {
	p := m.Province
	if s.ownsRevocations(p) {
		return // the node's own database is the truth about its revocations
	}
	seq, err := peekSeq(m.Data)
	if err != nil {
		s.reject(KindRevocations, p, trust.ReasonMalformed, err)
		return
	}
	if seq <= s.state.RevocationSeq(p) {
		s.stats.skipped.Add(1)
		return
	}
	d := parkedDelta{seq: seq, stream: m.StreamSeq, raw: m.Data, since: s.now()}
	if q := s.revs.blocked[p]; q != nil {
		if q.wait == waitKeyset && seq == s.state.RevocationSeq(p)+1 {
			// The next seq while p waits for a keyset: applied now if
			// it verifies. A statement with a made-up kid claiming that
			// seq waits (nobody can check it yet), but must not hold up
			// the genuine one; once this is applied it is covered.
			if s.applyDelta(p, d) {
				s.resolve(p)
			}
			return
		}
		s.park(p, q, d)
		return
	}
	s.applyDelta(p, d)
}

// applyDelta verifies and applies d, or blocks p if it cannot be applied
// yet, and reports whether it was applied. Callers hold s.mu.
func (s *Sync) applyDelta(p string, d parkedDelta) (applied bool) {
	gap, err := s.state.ApplyRevocation(p, string(d.raw), s.now())
	switch {
	case err != nil && s.waitsForKeyset(p, d.raw, err, d.since):
		s.block(p, waitKeyset, d)
		return false
	case err != nil:
		s.reject(KindRevocations, p, trust.ReasonOf(err), err)
		return false
	case gap:
		s.stats.gaps.Add(1)
		s.log.Info("revocation gap; fetching a snapshot", "province", p, "seq", d.seq,
			"holding", s.state.RevocationSeq(p))
		s.block(p, waitSnapshot, d)
		s.wake()
		return false
	}
	s.deltaApplied(p, d)
	return true
}

// deltaApplied records p's delta d, just applied. Callers hold s.mu.
func (s *Sync) deltaApplied(p string, d parkedDelta) {
	s.accepted(KindRevocations)
	s.cachePut(deltaKey(p, d.seq), d.raw, d.seq, d.stream)
	s.revs.deltaCached(p)
	s.heartbeatCovered(p)
}

// waitsForKeyset reports whether p's statement raw, refused with err and
// first received at since, may verify once a newer keyset of p arrives:
// p is a member whose keyset has not arrived yet, or raw's key is unknown
// or not yet active in a keyset issued no later than raw. A rotation's
// keyset (in the bucket) and the first statements of its new key (on the
// stream) travel apart, and either may arrive first. A keyset issued
// after raw that still does not make its key active never will: raw is
// refused.
//
// raw's iat is unverified (an unknown kid's signature cannot be checked),
// so the wait is bounded twice: a statement claiming to be issued later
// than now (and trust.ClockSkew) waits for nothing, or its kid would hold
// it until a keyset that never comes; and none waits for a key longer
// than s.keysetWait. Callers hold s.mu.
func (s *Sync) waitsForKeyset(p string, raw []byte, err error, since time.Time) bool {
	if !s.isMember(p) {
		return false
	}
	switch trust.ReasonOf(err) {
	case trust.ReasonUnknownIssuer:
		return true
	case trust.ReasonUnknownKey, trust.ReasonKeyNotActive:
		ks := s.state.Keyset(p)
		c, perr := peekClaims(raw)
		now := s.now()
		return ks != nil && perr == nil && ks.IssuedAt <= c.IssuedAt &&
			!time.Unix(c.IssuedAt, 0).After(now.Add(trust.ClockSkew)) &&
			now.Sub(since) < s.keysetWait
	}
	return false
}

// saveCursor hands the stream cursor to the persister, which saves it
// once every write queued before it is written. Callers hold s.mu.
func (s *Sync) saveCursor() {
	s.revs.sinceSave = 0
	c := s.revs.cursor()
	if s.cache == nil || c <= s.revs.saved {
		return
	}
	s.revs.saved = c
	s.persist.setWant(c)
}
