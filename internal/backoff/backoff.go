// Package backoff is the one retry policy of HCFed: exponential backoff
// with full jitter between a floor and a ceiling, and a wait that ends
// with its context.
//
// Every retry loop (NATS reconnects, watcher and consumer restarts,
// snapshot catch-up, the revocation outbox, the audit writer, the
// daemon's connect loop) draws its delays from a Policy, so that a
// federation's nodes do not retry in step after an outage, and no loop
// spins faster than its floor or sleeps longer than its ceiling.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is exponential backoff with full jitter. The delay before retry
// n (counted from 0) is drawn uniformly from [Min, min(Max, Min·2ⁿ)]: the
// floor keeps a failing loop from spinning, the ceiling bounds how long a
// recovered peer waits to be noticed, and the randomness spreads many
// clients' retries out in time.
type Policy struct {
	// Min is the least delay, and the ceiling of the first one. Required
	// (a zero Min gives zero delays).
	Min time.Duration
	// Max is the greatest delay; a Max below Min is taken as Min.
	Max time.Duration
}

// maxShift caps the doubling so that Min<<n cannot overflow.
const maxShift = 32

// Ceiling is the greatest delay Delay(n) may return: Min·2ⁿ, capped at Max.
func (p Policy) Ceiling(n int) time.Duration {
	hi := max(p.Max, p.Min)
	if n <= 0 {
		return min(p.Min, hi)
	}
	if n >= maxShift || p.Min > hi>>n {
		return hi
	}
	return p.Min << n
}

// Delay is the wait before retry n (0 for the first retry after a
// failure): uniformly random in [Min, Ceiling(n)].
func (p Policy) Delay(n int) time.Duration {
	lo, hi := min(p.Min, p.Ceiling(n)), p.Ceiling(n)
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}

// Wait blocks for d or until ctx is done, and reports whether d elapsed.
func Wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Sleep waits Delay(n) or until ctx is done, and reports whether the
// delay elapsed.
func (p Policy) Sleep(ctx context.Context, n int) bool {
	return Wait(ctx, p.Delay(n))
}
