package federation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Timing of snapshot catch-up.
const (
	// workerTick is how often the catch-up worker looks for work it was
	// not woken for (retries after backoff, lagging pointers).
	workerTick = time.Second
	// lagGrace is how long a province's snapshot pointer may be ahead of
	// what is held before the snapshot is fetched: the deltas it covers
	// are usually still on their way through the stream.
	lagGrace = 5 * time.Second
	// fetchTimeout bounds one snapshot download.
	fetchTimeout = 30 * time.Second
	// requestTimeout bounds one request for a fresh snapshot.
	requestTimeout = 5 * time.Second
	// retryMin and retryMax bound the backoff between two attempts to
	// fill the same province's gap (catchupRetry).
	retryMin = time.Second
	retryMax = time.Minute
	// fetchParallel is how many snapshots are downloaded at once when
	// catching up at start.
	fetchParallel = 4
)

// onPointer records a province's snapshot pointer and wakes the worker,
// which fetches the snapshot if the province is blocked on a gap or stays
// behind the pointer for longer than lagGrace. A pointer of a province
// that the trust list held does not name is recorded too (a list naming
// it may come next), but acted on only once a list names it: see
// pointerDue.
func (s *Sync) onPointer(p string, raw []byte) {
	if s.ownsRevocations(p) {
		return
	}
	ptr, err := parsePointer(raw)
	if err != nil {
		s.reject(KindRevSnapshot, p, trust.ReasonMalformed, err)
		return
	}
	s.mu.Lock()
	if _, held := s.revs.pointers[p]; !held && !s.isMember(p) && s.strangerPointers() >= maxStrangerPointers {
		s.mu.Unlock()
		s.reject(KindRevSnapshot, p, trust.ReasonNotMember,
			fmt.Errorf("pointers of %d provinces no trust list names are held already", maxStrangerPointers))
		return
	}
	s.revs.pointers[p] = &pointerSeen{seq: ptr.Seq, digest: ptr.Digest, seen: s.now()}
	if q := s.revs.blocked[p]; q != nil {
		q.nextTry, q.attempts = time.Time{}, 0 // a new snapshot may fill the gap
	}
	if w := s.revs.snapWaits[p]; w != nil {
		w.recheck = true // a new snapshot may be signed by a key held
	}
	s.mu.Unlock()
	s.wake()
}

// strangerPointers counts the pointers held of provinces the trust list
// held does not name. Callers hold s.mu.
func (s *Sync) strangerPointers() int {
	n := 0
	for p := range s.revs.pointers {
		if !s.isMember(p) {
			n++
		}
	}
	return n
}

// catchUpPointers fetches, in parallel, the snapshot of every province
// whose pointer is ahead of what is held: the start of a catch-up, before
// the stream is read, so that the deltas the snapshots cover are skipped
// unverified.
func (s *Sync) catchUpPointers(ctx context.Context) {
	s.mu.Lock()
	var due []string
	now := s.now()
	for p, ptr := range s.revs.pointers {
		if s.pointerDue(p, ptr) && s.fetchAllowed(p, now) {
			due = append(due, p)
		}
	}
	s.mu.Unlock()
	sort.Strings(due)
	sem := make(chan struct{}, fetchParallel)
	var wg sync.WaitGroup
	for _, p := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.catchUp(ctx, p)
		})
	}
	wg.Wait()
}

// worker fills gaps and follows lagging pointers until ctx ends.
func (s *Sync) worker(ctx context.Context) {
	t := time.NewTicker(workerTick)
	defer t.Stop()
	for {
		s.expireKeysetWaits()
		for _, p := range s.dueProvinces() {
			if ctx.Err() != nil {
				return
			}
			s.catchUp(ctx, p)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// dueProvinces lists the provinces whose snapshot should be fetched now:
// blocked on a gap and past their backoff; behind their pointer for
// longer than lagGrace; or with many deltas cached since their last
// cached snapshot while a newer one exists (compaction). A province whose
// last download was too recent (fetchAllowed) waits, whatever else is
// due, unless catchUp would download nothing (holdsPointed).
func (s *Sync) dueProvinces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	due := map[string]bool{}
	for p, q := range s.revs.blocked {
		if q.wait == waitSnapshot && !now.Before(q.nextTry) {
			due[p] = true
		}
	}
	for p, ptr := range s.revs.pointers {
		if now.Before(ptr.nextTry) || !s.isMember(p) { // see pointerDue
			continue
		}
		behind := ptr.seq > s.state.RevocationSeq(p) && now.Sub(ptr.seen) >= lagGrace
		compact := s.cache != nil && s.revs.deltas[p] >= compactAfter && ptr.seq > s.revs.cachedSnap[p]
		if behind || compact {
			due[p] = true
		}
	}
	out := make([]string, 0, len(due))
	for p := range due {
		if !s.snapshotWaits(p, now) && (s.fetchAllowed(p, now) || s.holdsPointed(p)) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// pointerDue reports whether p's pointer may lead to a download: p is a
// member and the pointer is ahead of what is held. A pointer's seq is
// anyone's claim; a snapshot of a province no trust list held names could
// never be applied, so downloading it (up to trust.MaxSnapshotLen, again
// after every backoff, ahead of members' catch-ups) would only serve
// whoever wrote it. Callers hold s.mu.
func (s *Sync) pointerDue(p string, ptr *pointerSeen) bool {
	return s.isMember(p) && ptr.seq > s.state.RevocationSeq(p)
}

// catchUp fetches and applies p's snapshot, applies what it unblocks, and
// if p is still blocked on a gap asks p's node for a fresh snapshot and
// backs off before the next attempt. When p is blocked and its pointer
// still names the snapshot last downloaded, whose seq is held, it asks at
// once: downloading that snapshot again could fill no gap.
func (s *Sync) catchUp(ctx context.Context, p string) {
	s.mu.Lock()
	if s.holdsPointed(p) {
		need := s.attempted(p, s.now())
		s.unlock()
		if need > 0 {
			s.requestSnapshot(ctx, p, need)
		}
		return
	}
	claimed := s.fetchStart(p)
	s.mu.Unlock()
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	raw, read, err := s.conn.fetchSnapshot(fctx, p)
	cancel()
	if ctx.Err() != nil {
		return
	}

	s.mu.Lock()
	switch {
	case err == nil:
		s.applySnapshot(p, raw)
	case errors.Is(err, ErrNotFound):
		s.log.Info("no snapshot stored", "province", p)
	case errors.Is(err, ErrTooLarge):
		s.reject(KindRevSnapshot, p, trust.ReasonOversized, err)
	case errors.Is(err, ErrMalformed):
		s.reject(KindRevSnapshot, p, trust.ReasonMalformed, err)
	default:
		s.log.Warn("snapshot not fetched", "province", p, "err", err)
	}
	s.resolve(p)
	now := s.now()
	s.fetchDone(p, claimed, err == nil, read, now)
	if ptr := s.revs.pointers[p]; ptr != nil {
		ptr.attempts++
		ptr.nextTry = now.Add(catchupRetry(ptr.attempts))
	}
	need := s.attempted(p, now)
	s.unlock()

	if need > 0 {
		s.requestSnapshot(ctx, p, need)
	}
}

// attempted backs off p's gap after an attempt to fill it, and returns
// the seq to ask p's node for a fresh snapshot covering, or 0 if p is not
// blocked on a gap. Callers hold s.mu.
func (s *Sync) attempted(p string, now time.Time) uint64 {
	q := s.revs.blocked[p]
	if q == nil || q.wait != waitSnapshot || s.snapshotWaits(p, now) {
		return 0
	}
	q.attempts++
	q.nextTry = now.Add(catchupRetry(q.attempts))
	// Only verified seqs: a parked or blindly dropped delta's seq may be
	// a forger's. The home node publishes a fresh snapshot whatever need
	// says.
	return max(q.droppedMax, s.state.RevocationSeq(p)+1)
}

// requestSnapshot asks p's node to publish a snapshot covering need.
func (s *Sync) requestSnapshot(ctx context.Context, p string, need uint64) {
	s.stats.requests.Add(1)
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := s.conn.RequestSnapshot(rctx, p, need); err != nil {
		s.log.Info("fresh snapshot requested; no answer", "province", p, "need", need, "err", err)
		return
	}
	s.log.Info("fresh snapshot requested", "province", p, "need", need)
}

// applySnapshot verifies and applies p's snapshot if it is newer than
// what is held, and caches it; an older one is still verified and cached
// when that lets cached deltas be pruned, and verified when it may cover
// deltas dropped unverified (coversBlindDrops). Callers hold s.mu.
func (s *Sync) applySnapshot(p string, raw []byte) {
	c, err := peekClaims(raw)
	if err != nil {
		s.reject(KindRevSnapshot, p, trust.ReasonMalformed, err)
		return
	}
	switch {
	case c.Seq > s.state.RevocationSeq(p):
		if err := s.state.ApplyRevocationSnapshot(p, raw, s.now()); err != nil {
			if trust.ReasonOf(err) == trust.ReasonUnknownIssuer {
				s.log.Debug("snapshot waits for its keyset", "province", p)
				return
			}
			if s.holdSnapshot(p, raw, err) {
				return
			}
			s.reject(KindRevSnapshot, p, trust.ReasonOf(err), err)
			return
		}
		delete(s.revs.snapWaits, p)
		s.stats.snapshots.Add(1)
		s.accepted(KindRevSnapshot)
	case s.cache != nil && c.Seq > s.revs.cachedSnap[p] && s.revs.deltas[p] > 0:
		// Nothing new for State, but caching it lets deltas go.
		if !s.verifySnapshot(p, raw) {
			return
		}
	default:
		// Nothing new for State, but it may still cover deltas dropped
		// unverified (a province whose blocking deltas were all forged).
		if s.coversBlindDrops(p, c.IssuedAt) && s.verifySnapshot(p, raw) {
			s.revs.blocked[p].blindDrop = time.Time{}
		}
		return
	}
	if s.coversBlindDrops(p, c.IssuedAt) {
		s.revs.blocked[p].blindDrop = time.Time{}
	}
	key := p + "." + string(KindRevSnapshot)
	s.cachePut(key, raw, c.Seq, s.holdNext())
	s.revs.snapshotCached(p, c.Seq)
	s.cachePrune(p, c.Seq)
	s.heartbeatCovered(p)
}

// coversBlindDrops reports whether a snapshot of p issued at iat (Unix
// seconds, p's clock), once verified, covers the deltas of p dropped
// unverified: p is blocked with such drops, and iat is later than the
// last of them by more than trust.ClockSkew. p's node published each of
// those deltas before this node dropped it, and reads the seq it signs
// after the time it signs, so the snapshot's seq covers every genuine
// one, whatever seqs forged ones claimed. Callers hold s.mu.
func (s *Sync) coversBlindDrops(p string, iat int64) bool {
	q := s.revs.blocked[p]
	return q != nil && !q.blindDrop.IsZero() && time.Unix(iat, 0).After(q.blindDrop.Add(trust.ClockSkew))
}

// verifySnapshot reports whether raw is p's snapshot, signed by a key of
// p's keyset, refusing it if not. Callers hold s.mu.
func (s *Sync) verifySnapshot(p string, raw []byte) bool {
	ks := s.state.Keyset(p)
	if ks == nil {
		return false
	}
	if _, err := trust.ParseRevocationSnapshot(raw, p, ks.Signing); err != nil {
		s.reject(KindRevSnapshot, p, trust.ReasonOf(err), err)
		return false
	}
	return true
}

// catchupRetry is the wait before attempt n+1 to fill a gap, after n
// failed ones.
func catchupRetry(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return catchupBackoff.Delay(n - 1)
}
