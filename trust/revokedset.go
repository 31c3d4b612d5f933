package trust

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// revokedSet is the exact set of revoked live codes, by issuer and jti,
// holding each code's expiry so it can be forgotten once the code expires.
// A jti is kept as its 16 bytes and an expiry as uint32 Unix seconds: a
// map slot of 20 bytes, about 40 bytes an entry in all (see
// BenchmarkRevokedSetBytesPerEntry), where base64 string keys took over 100.
type revokedSet struct {
	mu sync.RWMutex
	m  map[string]map[[JTILen]byte]uint32
}

func (r *revokedSet) has(iss, jti string) bool {
	var id [JTILen]byte
	if !decodeJTI(jti, &id) {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.m[iss][id]
	return ok
}

// set returns iss's map, making it with room for n more if it is new.
// Callers hold mu.
func (r *revokedSet) set(iss string, n int) map[[JTILen]byte]uint32 {
	m := r.m[iss]
	if m == nil {
		m = make(map[[JTILen]byte]uint32, n)
		r.m[iss] = m
	}
	return m
}

// add holds es, applied at now, each until its expiry or
// MaxRevocationHold from now, whichever is sooner.
func (r *revokedSet) add(iss string, es []RevocationEntry, now time.Time) {
	most := holdUntil(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.set(iss, len(es))
	var id [JTILen]byte
	for _, e := range es {
		if decodeJTI(e.JTI, &id) {
			m[id] = min(clampExp(e.Expires), most)
		}
	}
}

// fresh counts the entries of es that iss's set does not hold yet.
func (r *revokedSet) fresh(iss string, es []RevocationEntry) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.m[iss]
	n := 0
	var id [JTILen]byte
	for _, e := range es {
		if !decodeJTI(e.JTI, &id) {
			continue
		}
		if _, held := m[id]; !held {
			n++
		}
	}
	return n
}

// issuerLen returns how many entries of iss are held.
func (r *revokedSet) issuerLen(iss string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m[iss])
}

// addSnapshot adds a verified snapshot's live entries, one chunk's worth
// under the lock at a time so readers are never held up for long. If
// what is held and the snapshot together could pass most, the snapshot
// replaces what is held instead: it is built apart and swapped in at
// once, so that no reader sees a revoked code unrevoked meanwhile.
func (r *revokedSet) addSnapshot(iss string, snap *RevocationSnapshot, now time.Time, most int) {
	if r.issuerLen(iss)+snap.Count > most {
		m := make(map[[JTILen]byte]uint32, snap.Count)
		snap.live(m, 0, snap.Count, now)
		r.mu.Lock()
		r.m[iss] = m
		r.mu.Unlock()
		return
	}
	for start := 0; start < snap.Count; start += SnapshotChunkEntries {
		end := min(start+SnapshotChunkEntries, snap.Count)
		r.mu.Lock()
		snap.live(r.set(iss, snap.Count), start, end, now)
		r.mu.Unlock()
	}
}

// live puts the snapshot's entries start..end-1 that are live at now into
// m, each held until its expiry or MaxRevocationHold from now.
func (snap *RevocationSnapshot) live(m map[[JTILen]byte]uint32, start, end int, now time.Time) {
	cut, most := now.Add(-ClockSkew).Unix(), holdUntil(now)
	for i := start; i < end; i++ {
		if id, exp := snapshotEntry(snap.body, i); int64(exp) > cut {
			m[id] = min(exp, most)
		}
	}
}

// clampExp fits an expiry into the set's uint32 seconds; parsing has
// already refused expiries that are not positive.
func clampExp(exp int64) uint32 {
	return uint32(min(max(exp, 0), math.MaxUint32))
}

// holdUntil is the latest expiry an entry applied at now is held until.
func holdUntil(now time.Time) uint32 {
	return clampExp(now.Add(MaxRevocationHold).Unix())
}

func (r *revokedSet) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for iss := range r.m {
		r.pruneIssuer(iss, now)
	}
}

// pruneIssuer forgets iss's entries expired by now. Callers hold mu.
func (r *revokedSet) pruneIssuer(iss string, now time.Time) {
	cut := now.Add(-ClockSkew).Unix()
	for id, exp := range r.m[iss] {
		if int64(exp) < cut {
			delete(r.m[iss], id)
		}
	}
}

// roomFor refuses es, live entries of province about to be applied at
// now, if with them more than s.maxLive would be held of province,
// forgetting its expired entries first.
func (s *State) roomFor(province string, es []RevocationEntry, now time.Time) error {
	r := &s.revoked
	if r.issuerLen(province)+len(es) <= s.maxLive {
		return nil
	}
	n := r.issuerLen(province) + r.fresh(province, es)
	if n > s.maxLive {
		r.mu.Lock()
		r.pruneIssuer(province, now)
		r.mu.Unlock()
		n = r.issuerLen(province) + r.fresh(province, es)
	}
	if n > s.maxLive {
		return fail(ReasonOversized, fmt.Sprintf("%s would hold %d live revocations, limit %d", province, n, s.maxLive))
	}
	return nil
}

// RevokedLen returns how many revoked live codes are held, for metrics.
func (s *State) RevokedLen() int {
	s.revoked.mu.RLock()
	defer s.revoked.mu.RUnlock()
	n := 0
	for _, set := range s.revoked.m {
		n += len(set)
	}
	return n
}
