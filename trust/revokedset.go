package trust

import (
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

func (r *revokedSet) add(iss string, es []RevocationEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.set(iss, len(es))
	var id [JTILen]byte
	for _, e := range es {
		if decodeJTI(e.JTI, &id) {
			m[id] = clampExp(e.Expires)
		}
	}
}

// addSnapshot adds a verified snapshot's live entries, one chunk's worth
// under the lock at a time so readers are never held up for long.
func (r *revokedSet) addSnapshot(iss string, snap *RevocationSnapshot, now time.Time) {
	cut := now.Add(-ClockSkew).Unix()
	for start := 0; start < snap.Count; start += SnapshotChunkEntries {
		end := min(start+SnapshotChunkEntries, snap.Count)
		r.mu.Lock()
		m := r.set(iss, snap.Count)
		for i := start; i < end; i++ {
			if id, exp := snapshotEntry(snap.body, i); int64(exp) > cut {
				m[id] = exp
			}
		}
		r.mu.Unlock()
	}
}

// clampExp fits an expiry into the set's uint32 seconds; parsing has
// already refused expiries that are not positive.
func clampExp(exp int64) uint32 {
	return uint32(min(max(exp, 0), math.MaxUint32))
}

func (r *revokedSet) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cut := now.Add(-ClockSkew).Unix()
	for _, set := range r.m {
		for id, exp := range set {
			if int64(exp) < cut {
				delete(set, id)
			}
		}
	}
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
