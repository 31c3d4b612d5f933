package trust

import "time"

// How current the revocations held of a province are.
//
// A node that stops hearing a province's revocations (it is cut off from
// NATS, its link to that province is broken, or the province's node cannot
// publish) keeps those it held, and a code revoked since goes on verifying
// there. To bound that, the revocations held of each province are held
// "as of" a moment: the issue time of the latest statement of the province
// that names a revocation seq this node has applied, a heartbeat or a
// snapshot. The province's node signs the seq it had committed by then, so
// nothing it had revoked by that moment is missing here. RevocationsMaxAge
// after it, the province's codes verify as revocations_stale, never ok.
//
// A heartbeat naming a seq not applied yet (the deltas are on their way,
// or lost and a snapshot is being fetched) is kept as a claim until its
// seq is applied; only then does the moment advance. A quiet province
// still sends heartbeats, so its codes stay fresh wherever they arrive.

// maxRevClaims bounds the claims waiting for their seq, per province: a
// node behind a province by more heartbeats than this keeps the oldest
// ones and the newest (the newest replaces the last held), which may delay
// the moment but never advances it wrongly.
const maxRevClaims = 8

// revClaim says that a province had made revocations up to seq at at.
type revClaim struct {
	seq uint64
	at  time.Time
}

// revFreshness is the moment the revocations of each province are held
// as of, and the claims that wait for their seq. State.mu guards it.
type revFreshness struct {
	maxAge time.Duration
	local  string // the province whose revocations are the node's own; "" if none
	asOf   map[string]time.Time
	claims map[string][]revClaim // by at and seq, both increasing
}

func newRevFreshness(maxAge time.Duration, local string) revFreshness {
	return revFreshness{maxAge: maxAge, local: local, asOf: map[string]time.Time{}, claims: map[string][]revClaim{}}
}

// claim records that p had made revocations up to seq at at. A claim no
// later than the moment held, or than a claim held with no higher seq,
// tells nothing new and is dropped.
func (f *revFreshness) claim(p string, seq uint64, at time.Time) {
	if p == f.local || !at.After(f.asOf[p]) {
		return
	}
	cs := f.claims[p]
	kept := make([]revClaim, 0, len(cs)+1)
	for _, c := range cs {
		switch {
		case !c.at.After(at) && c.seq >= seq:
			// the new claim settles no later and says more
		case !c.at.Before(at) && c.seq <= seq:
			return // a claim held settles no later and says more
		default:
			kept = append(kept, c)
		}
	}
	i := len(kept)
	for i > 0 && kept[i-1].at.After(at) {
		i--
	}
	kept = append(kept[:i], append([]revClaim{{seq: seq, at: at}}, kept[i:]...)...)
	if len(kept) > maxRevClaims {
		kept = append(kept[:maxRevClaims-2], kept[len(kept)-1])
	}
	f.claims[p] = kept
}

// settle advances p's moment past every claim whose seq is at most held,
// and reports whether it moved.
func (f *revFreshness) settle(p string, held uint64) bool {
	cs := f.claims[p]
	n := 0
	for n < len(cs) && cs[n].seq <= held {
		n++
	}
	if n == 0 {
		return false
	}
	moved := cs[n-1].at.After(f.asOf[p])
	if moved {
		f.asOf[p] = cs[n-1].at
	}
	if n == len(cs) {
		delete(f.claims, p)
	} else {
		f.claims[p] = cs[n:]
	}
	return moved
}

// fill copies the moments and the limit into snap.
func (f *revFreshness) fill(snap *Snapshot) {
	snap.RevocationsMaxAge, snap.RevocationsLocal = f.maxAge, f.local
	snap.RevocationsAsOf = make(map[string]time.Time, len(f.asOf))
	for p, at := range f.asOf {
		snap.RevocationsAsOf[p] = at
	}
}

// settleClaims advances province's moment with the claims its applied
// seq now covers, and publishes a new Snapshot if it moved. Callers hold
// mu.
func (s *State) settleClaims(province string) {
	if s.fresh.settle(province, s.revSeq[province]) {
		s.rebuild()
	}
}

// NoteRevocationSeq records what a verified heartbeat of province says:
// its node had made every revocation up to seq by at, the heartbeat's
// signed issue time. Once this State has applied seq, the revocations held
// of province are current as of at (RevocationsAsOf). It reports whether
// they already are. Pass it only heartbeats whose signature was checked
// against province's keyset: a claim advances what Verify trusts.
func (s *State) NoteRevocationSeq(province string, seq uint64, at time.Time) (covered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh.claim(province, seq, at)
	s.settleClaims(province)
	return s.revSeq[province] >= seq
}

// RevocationsAsOf returns the moment as of which every revocation of
// province is held here, zero if none is known.
func (s *State) RevocationsAsOf(province string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fresh.asOf[province]
}

// RevocationsHeld reports, for a code of province iss verified at now, the
// moment as of which every revocation of iss is held (zero if none is
// known), and whether that is older than RevocationsMaxAge: too old to
// vouch for a code not revoked in what is held. checked is false when the
// check does not apply: it is off, or iss's revocations are the node's
// own.
func (s *Snapshot) RevocationsHeld(iss string, now time.Time) (asOf time.Time, stale, checked bool) {
	if s.RevocationsMaxAge <= 0 || iss == s.RevocationsLocal {
		return time.Time{}, false, false
	}
	asOf = s.RevocationsAsOf[iss]
	return asOf, asOf.IsZero() || now.Sub(asOf) > s.RevocationsMaxAge, true
}
