package federation

import (
	"context"
	"strings"
	"sync"
	"time"
)

// MemCache is a Cache (and CachePruner, SyncRecorder, StreamRecorder) held in memory: for tests, and
// for a verifier that may lose its cache on restart. It is safe for
// concurrent use. The zero value is ready.
type MemCache struct {
	mu     sync.Mutex
	m      map[string]CachedStatement
	cursor uint64
	stream time.Time
	synced time.Time
}

// RevocationStream implements StreamRecorder.
func (c *MemCache) RevocationStream(context.Context) (time.Time, error) {
	return c.loadTime(&c.stream), nil
}

// SetRevocationStream implements StreamRecorder.
func (c *MemCache) SetRevocationStream(_ context.Context, created time.Time) error {
	c.storeTime(&c.stream, created)
	return nil
}

// LastSynced implements SyncRecorder.
func (c *MemCache) LastSynced(context.Context) (time.Time, error) { return c.loadTime(&c.synced), nil }

// SetLastSynced implements SyncRecorder.
func (c *MemCache) SetLastSynced(_ context.Context, t time.Time) error {
	c.storeTime(&c.synced, t)
	return nil
}

// loadTime reads *field under c.mu.
func (c *MemCache) loadTime(field *time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *field
}

// storeTime sets *field to t under c.mu.
func (c *MemCache) storeTime(field *time.Time, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*field = t
}

// PutStatement implements Cache.
func (c *MemCache) PutStatement(_ context.Context, key string, raw []byte, version uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]CachedStatement{}
	}
	if old, ok := c.m[key]; ok && version < old.Version {
		return nil
	}
	c.m[key] = CachedStatement{Key: key, Raw: append([]byte(nil), raw...), Version: version}
	return nil
}

// Statements implements Cache.
func (c *MemCache) Statements(context.Context) ([]CachedStatement, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CachedStatement, 0, len(c.m))
	for _, s := range c.m {
		out = append(out, s)
	}
	return out, nil
}

// RevocationCursor implements Cache.
func (c *MemCache) RevocationCursor(context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cursor, nil
}

// SetRevocationCursor implements Cache.
func (c *MemCache) SetRevocationCursor(_ context.Context, seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cursor = seq
	return nil
}

// DeleteStatements implements CachePruner.
func (c *MemCache) DeleteStatements(_ context.Context, prefix string, maxVersion uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.m {
		if strings.HasPrefix(k, prefix) && s.Version <= maxVersion {
			delete(c.m, k)
		}
	}
	return nil
}

// Get returns the statement stored under key, for tests and inspection.
func (c *MemCache) Get(key string) (CachedStatement, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[key]
	return s, ok
}
