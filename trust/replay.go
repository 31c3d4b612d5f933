package trust

import (
	"fmt"
	"sync"
	"time"
)

// ReplayCache remembers the nonces of statements accepted within the
// last LookupWindow, so that a request captured on the wire cannot be
// sent again. Statements older than the window are refused by their
// freshness check, so the cache never needs to remember more than a window.
//
// It is in memory only. A node that restarts would forget the nonces it
// saw, so the cache also refuses every statement issued before it was made
// (since): whatever was sent before the restart may have been seen, and
// its sender asks again. It is safe for concurrent use.
//
// Each issuer has room of its own: a node checks a statement against
// replay before it charges its issuer's rate, so a member sending
// verified statements beyond its rate fills only its own room, and the
// statements of every other province are still taken. Only verified
// statements reach the cache, so its issuers are members of the trust
// list, and it holds at most max nonces for each.
type ReplayCache struct {
	mu    sync.Mutex
	since int64
	max   int
	seen  map[string]map[string]int64 // issuer → nonce → iat
}

// NewReplayCache makes a cache refusing statements issued before since
// and holding at most max nonces of each issuer; when an issuer's room is
// full of nonces still in their window it refuses that issuer's new
// statements (fail closed) with ReasonRateLimited.
func NewReplayCache(since time.Time, max int) *ReplayCache {
	return &ReplayCache{since: since.Unix(), max: max, seen: map[string]map[string]int64{}}
}

// Use records the nonce of a verified statement from issuer, issued at
// iat, or refuses it: ReasonReplayed if it was seen, ReasonExpired if it
// predates the cache. Call it only after the statement's signature and
// freshness have been checked, so that forgeries cannot fill it.
func (c *ReplayCache) Use(issuer, nonce string, iat int64, now time.Time) error {
	if iat < c.since {
		return fail(ReasonExpired, "issued before this node started; send it again")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.seen[issuer]
	if seen == nil {
		seen = map[string]int64{}
		c.seen[issuer] = seen
	}
	if _, ok := seen[nonce]; ok {
		return fail(ReasonReplayed, "nonce already used")
	}
	if len(seen) >= c.max {
		cut := now.Add(-LookupWindow - ClockSkew).Unix()
		for k, t := range seen {
			if t < cut {
				delete(seen, k)
			}
		}
		if len(seen) >= c.max {
			return fail(ReasonRateLimited, fmt.Sprintf("%d requests from %s within %v", len(seen), issuer, LookupWindow))
		}
	}
	seen[nonce] = iat
	return nil
}
