package federation

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Bounds on the deltas parked for one blocked province. Beyond them a
// delta is dropped. If the province's keyset is held the delta is
// verified first and its seq remembered: only a snapshot at least that
// new unblocks the province. If not, its seq is anyone's claim, so only
// when it was dropped is remembered: only a snapshot signed after that
// unblocks the province (see coversBlindDrops).
const (
	maxParked      = 4096
	maxParkedBytes = 16 << 20
)

// What a blocked province waits for.
const (
	waitSnapshot = "snapshot" // a gap: a snapshot must fill it
	waitKeyset   = "keyset"   // its deltas arrived before its keyset
)

// revQueue is a blocked province: what it waits for and its parked deltas.
type revQueue struct {
	wait       string
	holdFrom   uint64 // stream sequence of the first message not applied
	parked     []parkedDelta
	bytes      int
	droppedMax uint64    // highest verified seq dropped for lack of room
	blindDrop  time.Time // when one was last dropped unverified (no keyset), by s.now
	attempts   int
	nextTry    time.Time
}

type parkedDelta struct {
	seq    uint64
	stream uint64
	raw    []byte
	since  time.Time // when it arrived, by s.now: bounds its wait for a keyset
}

func (r *revTracker) parkedCount() int {
	n := 0
	for _, q := range r.blocked {
		n += len(q.parked)
	}
	return n
}

// block parks d and marks p blocked until wait is satisfied. Callers hold
// s.mu.
func (s *Sync) block(p, wait string, d parkedDelta) {
	q := s.revs.blocked[p]
	if q == nil {
		q = &revQueue{holdFrom: d.stream}
		s.revs.blocked[p] = q
	}
	q.wait = wait
	s.park(p, q, d)
}

// park holds p's delta d in seq order, or drops it if q is full. Callers
// hold s.mu.
func (s *Sync) park(p string, q *revQueue, d parkedDelta) {
	// Deltas of one seq are kept in arrival order: the first to verify is
	// applied and the others are then covered. Keeping only the first, an
	// unverified message claiming a seq would make the real one of that
	// seq be dropped unseen.
	i := sort.Search(len(q.parked), func(i int) bool { return q.parked[i].seq > d.seq })
	for j := i - 1; j >= 0 && q.parked[j].seq == d.seq; j-- {
		if bytes.Equal(q.parked[j].raw, d.raw) {
			return // the same message again
		}
	}
	if len(q.parked) >= maxParked || q.bytes+len(d.raw) > maxParkedBytes {
		// Only a snapshot at least this new can unblock p now, so a
		// forged seq must not get here: verify it if p's keys are known.
		// If not, its seq may be a forger's: only the time is kept, and a
		// snapshot signed after it covers whatever was dropped.
		// A delta of a key p's keyset does not hold yet is refused
		// (unknown_key) like a forgery: were it p's, the gap it leaves
		// is filled from p's next snapshot.
		if ks := s.state.Keyset(p); ks == nil {
			q.blindDrop = s.now()
		} else {
			if _, err := trust.ParseRevocation(string(d.raw), p, ks.Signing); err != nil {
				s.reject(KindRevocations, p, trust.ReasonOf(err), err)
				return
			}
			q.droppedMax = max(q.droppedMax, d.seq)
		}
		s.stats.parkedDropped.Add(1)
		return
	}
	q.parked = append(q.parked, parkedDelta{})
	copy(q.parked[i+1:], q.parked[i:])
	q.parked[i] = d
	q.bytes += len(d.raw)
}

// resolve applies what p's parked deltas it now can, after a snapshot or
// keyset of p was applied, and unblocks p once none is left. Callers
// hold s.mu.
func (s *Sync) resolve(p string) {
	q := s.revs.blocked[p]
	if q == nil {
		return
	}
	if held := s.state.RevocationSeq(p); q.droppedMax > held || !q.blindDrop.IsZero() {
		q.wait = waitSnapshot // deltas were dropped: only a snapshot can cover them
		return
	}
	for len(q.parked) > 0 {
		d := q.parked[0]
		if d.seq > s.state.RevocationSeq(p) {
			gap, err := s.state.ApplyRevocation(p, string(d.raw), s.now())
			switch {
			case err != nil && s.waitsForKeyset(p, d.raw, err, d.since):
				if s.applyRival(p, q) {
					continue // d is covered now
				}
				q.wait = waitKeyset
				return
			case err != nil:
				s.reject(KindRevocations, p, trust.ReasonOf(err), err)
			case gap:
				q.wait = waitSnapshot
				return
			default:
				s.deltaApplied(p, d)
			}
		}
		q.parked = q.parked[1:]
		q.bytes -= len(d.raw)
	}
	delete(s.revs.blocked, p)
	s.log.Info("revocations caught up", "province", p, "seq", s.state.RevocationSeq(p))
	s.saveCursor()
}

// applyRival applies a delta parked after q's first with the same seq,
// while the first waits for a keyset, and reports whether one was
// applied: a statement with a made-up kid claiming a seq must not hold
// up p's genuine delta of that seq. Rivals refused for good are removed.
// Callers hold s.mu.
func (s *Sync) applyRival(p string, q *revQueue) bool {
	seq := q.parked[0].seq
	for i := 1; i < len(q.parked) && q.parked[i].seq == seq; {
		d := q.parked[i]
		gap, err := s.state.ApplyRevocation(p, string(d.raw), s.now())
		switch {
		case err == nil && !gap:
			s.deltaApplied(p, d)
			return true
		case err != nil && !s.waitsForKeyset(p, d.raw, err, d.since):
			s.reject(KindRevocations, p, trust.ReasonOf(err), err)
			q.parked = append(q.parked[:i], q.parked[i+1:]...)
			q.bytes -= len(d.raw)
			continue
		}
		i++
	}
	return false
}

// resolveAll tries every blocked province again, after a new trust list.
// Callers hold s.mu.
func (s *Sync) resolveAll() {
	for p := range s.revs.blocked {
		s.resolve(p)
	}
}

// expireKeysetWaits refuses what has waited for a keyset of its province
// for longer than s.keysetWait (see waitsForKeyset): the delta a blocked
// province waits on, after which its parked deltas go on, and held
// statements. The catch-up worker calls it every workerTick.
func (s *Sync) expireKeysetWaits() {
	s.mu.Lock()
	defer s.unlock()
	now := s.now()
	for p, q := range s.revs.blocked {
		if q.wait == waitKeyset && slices.ContainsFunc(q.parked, func(d parkedDelta) bool { return now.Sub(d.since) >= s.keysetWait }) {
			s.resolve(p)
		}
	}
	for _, it := range s.pending.expired(now, s.keysetWait) {
		it.st.since = it.since
		s.handle(it.st)
	}
}
