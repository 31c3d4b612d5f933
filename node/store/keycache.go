package store

import "sync"

// keyCacheMax bounds how many sealed subject keys keyCache holds (about
// 100 bytes each).
const keyCacheMax = 1 << 16

// keyCache holds subject keys as keys.db stores them, sealed under the
// KEK, so that issuing a code reads one database instead of two (a read of
// keys.db was a tenth of an HTTP issuance's CPU). It holds nothing the
// file does not, and a shredded key leaves it with the shredding: every
// forget advances gen, and a key read while a shred was under way (its
// read began at an older gen) is not put back.
type keyCache struct {
	mu   sync.Mutex
	gen  uint64
	keys map[string][]byte
}

// get returns id's sealed key if cached, and the generation a read of
// the file for it must be put back with.
func (c *keyCache) get(id string) (sealed []byte, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sealed, ok = c.keys[id]
	return sealed, c.gen, ok
}

// put caches id's sealed key read at generation gen, unless a key has
// been forgotten since. When full, it drops an arbitrary entry.
func (c *keyCache) put(id string, sealed []byte, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.keys == nil {
		c.keys = make(map[string][]byte)
	}
	if len(c.keys) >= keyCacheMax {
		for k := range c.keys {
			delete(c.keys, k)
			break
		}
	}
	c.keys[id] = sealed
}

// forget evicts id's key.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.keys, id)
}

// forgetAll evicts every key.
func (c *keyCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.keys = nil
}
