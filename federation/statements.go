package federation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Latest-state statements (trust list, keysets, content-key grants,
// heartbeats) arrive through the state watcher, one at a time, in any
// order. Each is applied through trust.State or held back until what it
// depends on has arrived, or dropped.

// statement is one statement received under topic, not yet verified.
type statement struct {
	topic Topic
	key   string
	raw   []byte
	since time.Time // when it was first held back, if it was
}

// onState is the state watcher's handler.
func (s *Sync) onState(u StateUpdate) {
	if !s.enter() {
		return
	}
	defer s.exit()
	if u.Deleted {
		return // keep the last good statement
	}
	t := u.Topic
	switch t.Kind {
	case KindTrustList, KindKeyset, KindHeartbeat:
	case KindContentKey:
		if s.replica || t.Peer != s.self || t.Province == s.self {
			return // another node's grant: not ours to read
		}
	case KindRevSnapshot:
		s.onPointer(t.Province, u.Value)
		return
	default:
		return
	}
	s.mu.Lock()
	defer s.unlock()
	s.handle(statement{topic: t, key: u.Key, raw: u.Value})
}

// handle processes st and then, as long as statements applied may have
// unlocked others, the pending set. Callers hold s.mu.
func (s *Sync) handle(st statement) {
	s.process(st)
	for s.needRetry {
		s.needRetry = false
		for _, it := range s.pending.drain() {
			it.st.since = it.since
			s.process(it.st)
		}
	}
}

// process applies st, or holds it back if it waits for another
// statement, or drops it. Callers hold s.mu.
func (s *Sync) process(st statement) {
	p := st.topic.Province
	version, changed, err := s.apply(st)
	if err == nil {
		if !changed {
			return
		}
		s.accepted(st.topic.Kind)
		if st.topic.Kind != KindHeartbeat {
			s.cachePut(st.key, st.raw, version, s.holdNext())
		}
		s.afterApply(st.topic.Kind, p)
		return
	}
	reason := trust.ReasonOf(err)
	if reason == trust.ReasonRollback && p == s.self && st.topic.Kind == KindKeyset {
		// The node applies its own keyset before publishing it: the
		// bucket's copy may lag behind until the next publication.
		s.log.Debug("own keyset in the bucket is older than the one held")
		return
	}
	since := st.since
	if since.IsZero() {
		since = s.now()
	}
	if reason == trust.ReasonUnknownIssuer || (st.topic.Kind != KindKeyset && s.waitsForKeyset(p, st.raw, err, since)) {
		s.hold(st, reason)
		s.log.Debug("statement waits for what it depends on", "kind", string(st.topic.Kind), "province", p)
		return
	}
	s.reject(st.topic.Kind, p, reason, err)
}

// apply applies one statement to State and returns the version to cache
// it under, and whether anything changed: the same bytes as held are
// not applied again. Callers hold s.mu.
func (s *Sync) apply(st statement) (version uint64, changed bool, err error) {
	now := s.now()
	p := st.topic.Province
	switch st.topic.Kind {
	case KindTrustList:
		if s.holdsTrustList(st.raw) {
			return 0, false, nil
		}
		had := s.state.Snapshot().Keys
		if err := s.state.ApplyTrustList(st.raw, now); err != nil {
			if !s.walkTrustLists(st.raw, now) {
				return 0, false, err
			}
		}
		s.refetchDroppedKeysets(had)
		return s.state.TrustList().Version, true, nil
	case KindKeyset:
		if s.holdsKeyset(p, st.raw) {
			return 0, false, nil
		}
		if err := s.state.ApplyKeyset(p, string(st.raw), now); err != nil {
			return 0, false, err
		}
		return s.state.Keyset(p).Version, true, nil
	case KindContentKey:
		if err := s.state.ApplyGrant(p, string(st.raw), now); err != nil {
			return 0, false, err
		}
		c, _ := peekClaims(st.raw) // verified just now
		return uint64(max(c.IssuedAt, 0)), true, nil
	case KindHeartbeat:
		hb, err := s.recordHeartbeat(p, st.raw, now)
		if err == nil {
			s.heartbeatClaim(p, st.raw, hb)
		}
		return 0, true, err
	}
	return 0, false, fmt.Errorf("sync: no rule for %s", st.topic.Kind)
}

// afterApply wakes what waited for a trust list or keyset. Callers hold
// s.mu.
func (s *Sync) afterApply(kind Kind, p string) {
	switch kind {
	case KindTrustList:
		s.needRetry = true
		s.resolveAll()
		s.wake() // pointers of provinces it names may now be due
	case KindKeyset:
		s.needRetry = true
		s.resolve(p)
		s.revs.retryPointerNow(p)
		s.wake()
		if p != s.self && s.onPeerKeyset != nil {
			s.onPeerKeyset(p)
		}
	case KindHeartbeat:
		if p != s.self && s.onPeerBeat != nil && s.heartbeatFresh(p) {
			s.onPeerBeat(p)
		}
	}
}

// walkTrustLists handles a trust list that does not chain from the one
// held because versions in between were missed (the node was offline
// across operator rotations): it applies the versions the bucket still
// keeps, in order, each by the normal rules, and then raw. It reports
// whether raw ended up accepted. Nothing is skipped: every step must pass
// AcceptTrustList from the step before. Callers hold s.mu.
func (s *Sync) walkTrustLists(raw []byte, now time.Time) bool {
	held := s.state.TrustList()
	next, err := trust.ParseTrustList(raw)
	if s.conn == nil || held == nil || err != nil || next.Version <= held.Version+1 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	history, err := s.conn.StateHistory(ctx, string(KindTrustList))
	if err != nil {
		s.log.Warn("trust list history unavailable", "err", err)
		return false
	}
	type step struct {
		version uint64
		raw     []byte
	}
	var steps []step
	for _, h := range history {
		if p, err := trust.ParseTrustList(h); err == nil && p.Version > held.Version && p.Version < next.Version {
			steps = append(steps, step{p.Version, h})
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].version < steps[j].version })
	for _, st := range steps {
		if s.state.TrustList().Version >= st.version {
			continue
		}
		if err := s.state.ApplyTrustList(st.raw, now); err != nil {
			s.log.Warn("trust list history step refused", "version", st.version, "reason", trust.ReasonOf(err))
			return false
		}
		s.cachePut(string(KindTrustList), st.raw, st.version, s.holdNext())
		s.log.Info("trust list history step applied", "version", st.version)
	}
	return s.state.ApplyTrustList(raw, now) == nil
}

// refetchDroppedKeysets reads again from the bucket the keyset of each
// member whose keyset (one of had) the trust list just applied dropped,
// because the list names a new root for it. The keyset that root signed
// may have arrived before the list and been refused (wrong_signer, as a
// forgery would be), and the bucket does not deliver it again: it is
// held as pending, and tried when the pending set is drained, after the
// list. Callers hold s.mu.
func (s *Sync) refetchDroppedKeysets(had map[string]map[string]*trust.Key) {
	if s.conn == nil {
		return
	}
	var ctx context.Context
	for p := range had {
		// A node signs its own keyset with its new root itself, after the
		// list; a replica has only the federation's copy.
		if (p == s.self && !s.replica) || s.state.Keyset(p) != nil || !s.isMember(p) {
			continue
		}
		if ctx == nil {
			c, cancel := context.WithTimeout(context.Background(), refetchTimeout)
			defer cancel()
			ctx = c
		}
		t := Topic{Kind: KindKeyset, Province: p}
		key, err := t.Key()
		if err != nil {
			continue
		}
		raw, _, err := s.conn.GetState(ctx, key)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				s.log.Warn("keyset not read again after its root changed", "province", p, "err", err)
			}
			continue
		}
		s.hold(statement{topic: t, key: key, raw: raw}, trust.ReasonUnknownIssuer)
	}
}

// hold puts st, which waits for what it depends on, in the pending set,
// and rejects the statement that makes room if the set is full. Callers
// hold s.mu.
func (s *Sync) hold(st statement, reason trust.Reason) {
	if ev, full := s.pending.put(st, reason, s.now(), s.isMember(st.topic.Province)); full {
		s.reject(ev.st.topic.Kind, ev.st.topic.Province, ev.reason, errors.New("dropped: too many statements waiting"))
	}
}

func (s *Sync) holdsTrustList(raw []byte) bool {
	tl := s.state.TrustList()
	return tl != nil && string(tl.Raw) == string(raw)
}

func (s *Sync) holdsKeyset(p string, raw []byte) bool {
	ks := s.state.Keyset(p)
	return ks != nil && ks.Raw == string(raw)
}

// applyPinned installs the pinned trust list if State holds none.
// Callers hold s.mu.
func (s *Sync) applyPinned() {
	if len(s.pinned) == 0 || s.state.TrustList() != nil {
		return
	}
	if err := s.state.ApplyTrustList(s.pinned, s.now()); err != nil {
		s.reject(KindTrustList, "", trust.ReasonOf(err), fmt.Errorf("pinned trust list: %w", err))
		return
	}
	v := s.state.TrustList().Version
	s.cachePut(string(KindTrustList), s.pinned, v, s.holdNext())
	s.log.Info("pinned trust list applied", "version", v)
}
