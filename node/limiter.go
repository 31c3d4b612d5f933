package node

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ScannerLimiter rate-limits each scanner separately, at
// limits.scanner_rate and limits.scanner_burst, as Verify does; a
// verifier replica limits its scanners with it.
type ScannerLimiter struct{ k *keyedLimiter }

// NewScannerLimiter makes a ScannerLimiter.
func NewScannerLimiter(perSecond float64, burst int) ScannerLimiter {
	return ScannerLimiter{k: newKeyedLimiter(perSecond, burst)}
}

// Allow reports whether scanner id may verify one more code at now.
func (l ScannerLimiter) Allow(id string, now time.Time) bool { return l.k.allow(id, now) }

// limiterPruneAt is how many keys a keyedLimiter holds before it drops
// the limiters that are full again.
const limiterPruneAt = 4096

// keyedLimiter rate-limits each key (a scanner id, a subject id)
// separately, with one token bucket per key.
type keyedLimiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	m       map[string]*rate.Limiter
	pruneAt int
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	return &keyedLimiter{rate: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}, pruneAt: limiterPruneAt}
}

// allow reports whether key id may take one token at now.
func (k *keyedLimiter) allow(id string, now time.Time) bool { return k.allowN(id, now, 1) }

// allowN reports whether key id may take n tokens at now; it takes none
// when it may not (more than the burst never may).
func (k *keyedLimiter) allowN(id string, now time.Time, n int) bool {
	k.mu.Lock()
	l, ok := k.m[id]
	if !ok {
		if len(k.m) >= k.pruneAt {
			k.prune(now)
		}
		l = rate.NewLimiter(k.rate, k.burst)
		k.m[id] = l
	}
	k.mu.Unlock()
	return l.AllowN(now, n)
}

// prune drops the limiters whose bucket is full again — a new one would
// be the same — so that a limiter per resident does not grow with every
// resident ever seen. It runs again only once the map has doubled, so its
// cost per call stays constant.
func (k *keyedLimiter) prune(now time.Time) {
	for id, l := range k.m {
		if l.TokensAt(now) >= float64(k.burst) {
			delete(k.m, id)
		}
	}
	k.pruneAt = max(limiterPruneAt, 2*len(k.m))
}
