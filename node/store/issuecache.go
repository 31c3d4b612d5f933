package store

import (
	"sync"
	"sync/atomic"
	"time"
)

// Issuance cache defaults.
const (
	// DefaultIssueCacheEntries is how many subjects the issuance cache
	// holds unless SetIssueCacheEntries says otherwise (about 26 MB: some
	// 400 bytes an entry).
	DefaultIssueCacheEntries = 1 << 16
	// issueCacheMaxAge bounds how long an entry is served: the ciphertexts
	// of a resident who stopped asking for codes leave memory after it.
	issueCacheMaxAge = 10 * time.Minute
	// issueCacheSweep is how often, while the cache holds entries, it
	// drops those that would pass issueCacheMaxAge before the next sweep.
	issueCacheSweep = time.Minute
)

// issueCache remembers, per subject, what issuance reads: the status,
// the sealed masked display fields and the sealed data key — ciphertexts
// only, the same bytes as on disk. A resident who refreshes their code, or
// an operator printing a queue of paper codes, then signs without a read
// transaction, which under group-committed inserts costs more than the
// signature (every commit invalidates a reader's page cache).
//
// A stale entry can never put a wrong code into the world: InsertCode
// records a code only if its subject still exists with the status it was
// signed with. Entries are still dropped as soon as they are known to be
// stale, so that issuance does not sign twice: after a status change or a
// deletion commits, and when InsertCode refuses a code. A read that raced
// with such a change is not filled in (generation), and a deletion never
// leaves its subject's sealed key in the cache.
type issueCache struct {
	mu      sync.Mutex
	max     int // 0: disabled
	gen     uint64
	entries map[string]issueEntry
	now     func() time.Time
	// sweeper runs sweep every sweepEvery (issueCacheSweep, but for
	// tests) while entries are held; nil when none is armed.
	sweeper    *time.Timer
	sweepEvery time.Duration

	hits, misses atomic.Int64
}

type issueEntry struct {
	status           string
	retainUntil      time.Time
	maskedCT, sealed []byte // shared with callers, who only read them
	filled           time.Time
}

func newIssueCache(max int) *issueCache {
	return &issueCache{max: max, entries: make(map[string]issueEntry), now: time.Now, sweepEvery: issueCacheSweep}
}

// get returns id's entry if one is held and not older than
// issueCacheMaxAge.
func (c *issueCache) get(id string) (Subject, bool) {
	c.mu.Lock()
	e, ok := c.entries[id]
	if ok && c.now().Sub(e.filled) > issueCacheMaxAge {
		delete(c.entries, id)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return Subject{}, false
	}
	c.hits.Add(1)
	return Subject{ID: id, Status: e.status, RetainUntil: e.retainUntil, MaskedCT: e.maskedCT, DataKey: e.sealed}, true
}

// generation is read before a database read whose result may fill the
// cache.
func (c *issueCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill remembers s, read from the database after generation returned
// gen, unless something was forgotten since: then the read may predate
// that change's commit. When full, it drops an arbitrary entry.
func (c *issueCache) fill(s Subject, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 || gen != c.gen {
		return
	}
	if _, ok := c.entries[s.ID]; !ok && len(c.entries) >= c.max {
		for id := range c.entries {
			delete(c.entries, id)
			break
		}
	}
	c.entries[s.ID] = issueEntry{status: s.Status, retainUntil: s.RetainUntil, maskedCT: s.MaskedCT, sealed: s.DataKey, filled: c.now()}
	if c.sweeper == nil {
		c.sweeper = time.AfterFunc(c.sweepEvery, c.sweep)
	}
}

// sweep drops the entries that would be older than issueCacheMaxAge at
// the next sweep — an entry whose resident stopped asking is not read
// again, so get alone would keep it — and arms the next sweep while
// entries are left.
func (c *issueCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweeper = nil
	now := c.now()
	for id, e := range c.entries {
		if now.Sub(e.filled) > issueCacheMaxAge-c.sweepEvery {
			delete(c.entries, id)
		}
	}
	if len(c.entries) > 0 && c.max > 0 {
		c.sweeper = time.AfterFunc(c.sweepEvery, c.sweep)
	}
}

// forget drops the entries of ids, whose rows changed or went, and makes
// every read begun before it unable to fill. It is called after the
// change committed.
func (c *issueCache) forget(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		delete(c.entries, id)
	}
}

// clear drops every entry.
func (c *issueCache) clear() { c.resize(-1) }

// close drops every entry and turns the cache off: a closed DB keeps
// nothing of its residents in memory.
func (c *issueCache) close() { c.resize(0) }

// resize drops every entry, stops the sweep and sets the bound to max:
// 0 turns the cache off, -1 keeps the bound it has.
func (c *issueCache) resize(max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
	if c.sweeper != nil {
		c.sweeper.Stop()
		c.sweeper = nil
	}
	if max >= 0 {
		c.max = max
	}
}

func (c *issueCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// SetIssueCacheEntries bounds the issuance cache (SubjectForIssue) to
// max subjects, dropping what it holds; 0 turns it off.
func (db *DB) SetIssueCacheEntries(max int) { db.issue.resize(max) }

// IssueCacheStats are SubjectForIssue's cache hits and misses since
// Open, for metrics.
func (db *DB) IssueCacheStats() (hits, misses int64) {
	return db.issue.hits.Load(), db.issue.misses.Load()
}
