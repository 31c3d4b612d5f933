package node

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Token cache limits.
const (
	// tokenCacheTTL bounds how long a resolved token is trusted without
	// reading the database again. Revocations through this node do not
	// wait for it (forget evicts at once); it only bounds how long a token
	// deleted behind the node's back — by another process on the same
	// database — keeps working.
	tokenCacheTTL = 2 * time.Second
	// tokenCacheMax bounds the cache's memory. Only tokens found in the
	// database are cached, so unknown tokens cannot fill it.
	tokenCacheMax = 4096
	// tokenMissTTL bounds how long a token refused after a read — not in
	// the database, expired, or of a disabled account or scanner — is
	// refused again without reading it, so that a client repeating it
	// costs one read per tokenMissTTL. A token created through this node
	// is taken off at once (created); this only bounds how long one
	// created by another process on the same database is refused — and
	// only if it was presented before it existed. No refusal is ever
	// lifted for the same token through this node (an expiry never moves,
	// a disabled account is never enabled again), so none waits for it.
	tokenMissTTL = 2 * time.Second
	// tokenMissMax bounds the memory of the refused tokens remembered:
	// random tokens each cost a read, but cannot grow the node.
	tokenMissMax = 4096
)

// tokenCache remembers principals of recently resolved tokens, keyed by
// token hash (the token itself is never kept).
type tokenCache struct {
	mu sync.RWMutex
	// gen counts forget calls. A lookup that read the database while a
	// forget ran may have read a token just deleted; put refuses it.
	gen uint64
	m   map[[sha256.Size]byte]cachedToken
	// misses holds hashes of tokens refused after a read, with the
	// refusal and until when it is repeated unread.
	misses map[[sha256.Size]byte]tokenMiss
}

// tokenMiss is a refusal remembered: the same error, until a time.
type tokenMiss struct {
	until   time.Time
	refusal Error
}

// missed returns the refusal of hash if the database refused it less
// than tokenMissTTL before now, and nil otherwise.
func (c *tokenCache) missed(hash [sha256.Size]byte, now time.Time) *Error {
	c.mu.RLock()
	m, ok := c.misses[hash]
	c.mu.RUnlock()
	if !ok || !now.Before(m.until) {
		return nil
	}
	return &m.refusal
}

// putMiss remembers that hash was refused with refusal after a read,
// unless a token was created (or forgotten) since gen was read: the read
// may predate it.
func (c *tokenCache) putMiss(hash [sha256.Size]byte, gen uint64, now time.Time, refusal *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.misses == nil {
		c.misses = make(map[[sha256.Size]byte]tokenMiss)
	}
	trim(c.misses, tokenMissMax, now)
	c.misses[hash] = tokenMiss{until: now.Add(tokenMissTTL), refusal: *refusal}
}

// created takes hash off the refused tokens once a token with it is in
// the database, and makes putMiss of reads begun before it fail, so the
// new token works from its first request.
func (c *tokenCache) created(hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.misses, [sha256.Size]byte(hash))
}

type cachedToken struct {
	p       Principal
	expires time.Time
}

func (e cachedToken) expiry() time.Time { return e.expires }
func (m tokenMiss) expiry() time.Time   { return m.until }

// trim makes room in m, which holds at most max entries, for one more:
// when full, it drops the entries expired at now, and all of them if
// none was. Whatever it drops only costs a read.
func trim[V interface{ expiry() time.Time }](m map[[sha256.Size]byte]V, max int, now time.Time) {
	if len(m) < max {
		return
	}
	for k, v := range m {
		if !now.Before(v.expiry()) {
			delete(m, k)
		}
	}
	if len(m) >= max {
		clear(m)
	}
}

// get returns the cached principal for hash, if it has not expired at now.
func (c *tokenCache) get(hash [sha256.Size]byte, now time.Time) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[hash]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

// generation is read before the database is, and handed to put.
func (c *tokenCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches p for hash unless a forget ran since gen was read: the
// database read it came from may predate that deletion. An operator
// token is cached no later than its expiry, so that get never returns an
// expired one.
func (c *tokenCache) put(hash [sha256.Size]byte, p Principal, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]cachedToken)
	}
	trim(c.m, tokenCacheMax, now)
	until := now.Add(tokenCacheTTL)
	if !p.Expires.IsZero() && p.Expires.Before(until) {
		until = p.Expires
	}
	c.m[hash] = cachedToken{p: p, expires: until}
}

// forget evicts every cached token of the owner with role and id (a
// scanner id or a subject id). Call it once the owner's tokens are
// deleted from the database, whatever the outcome was: evicting too much
// only costs a read.
func (c *tokenCache) forget(role Role, id string) {
	c.evict(func(p Principal) bool {
		return p.Role == role && (role == RoleScanner && p.ScannerID == id || role == RoleResident && p.SubjectID == id)
	})
}

// forgetAccount evicts the cached token tokenID of an account, or all of
// its tokens when tokenID is empty; as forget, after the database change.
func (c *tokenCache) forgetAccount(accountID, tokenID string) {
	c.evict(func(p Principal) bool {
		return p.AccountID != "" && p.AccountID == accountID && (tokenID == "" || p.TokenID == tokenID)
	})
}

// evict drops every cached principal that match selects, and makes puts
// of database reads begun before it fail.
func (c *tokenCache) evict(match func(Principal) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if match(e.p) {
			delete(c.m, k)
		}
	}
}
