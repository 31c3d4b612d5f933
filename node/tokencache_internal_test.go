package node

import (
	"crypto/sha256"
	"testing"
	"time"
)

// TestTokenCacheRefusesLookupThatRacedForget pins the ordering the cache
// relies on: a database read that began before a forget may have seen the
// deleted token, so what it found must not be cached.
func TestTokenCacheRefusesLookupThatRacedForget(t *testing.T) {
	var c tokenCache
	now := time.Unix(1_800_000_000, 0)
	hash := sha256.Sum256([]byte("hct_x"))
	p := Principal{Role: RoleScanner, ScannerID: "sc_1"}

	gen := c.generation() // the lookup starts...
	c.forget(RoleScanner, "sc_1")
	c.put(hash, p, gen, now) // ...and ends after the removal
	if got, ok := c.get(hash, now); ok {
		t.Fatalf("cached %+v from a lookup that raced its removal", got)
	}

	c.put(hash, p, c.generation(), now)
	if _, ok := c.get(hash, now.Add(tokenCacheTTL-time.Nanosecond)); !ok {
		t.Fatal("fresh entry missed")
	}
	if _, ok := c.get(hash, now.Add(tokenCacheTTL)); ok {
		t.Fatal("entry outlived tokenCacheTTL")
	}
	c.forget(RoleResident, "sc_1") // same id, other role: kept
	if _, ok := c.get(hash, now); !ok {
		t.Fatal("forget evicted a token of another role")
	}
}

func TestTokenCacheStaysBounded(t *testing.T) {
	var c tokenCache
	now := time.Unix(1_800_000_000, 0)
	for i := range tokenCacheMax + 10 {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		c.put(h, Principal{Role: RoleOperator}, c.generation(), now)
		if len(c.m) > tokenCacheMax {
			t.Fatalf("%d entries, limit %d", len(c.m), tokenCacheMax)
		}
	}
}

// trim drops only the expired entries of a full map when some are, and
// everything when none is; a map with room is left alone.
func TestTrimDropsTheExpiredElseEverything(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	fill := func(n, expired int) map[[sha256.Size]byte]tokenMiss {
		m := make(map[[sha256.Size]byte]tokenMiss)
		for i := range n {
			until := now.Add(time.Second)
			if i < expired {
				until = now
			}
			m[sha256.Sum256([]byte{byte(i)})] = tokenMiss{until: until}
		}
		return m
	}
	for _, c := range []struct {
		name               string
		n, expired, remain int
	}{
		{"room left", 3, 2, 3},
		{"full, some expired", 4, 2, 2},
		{"full, none expired", 4, 0, 0},
	} {
		m := fill(c.n, c.expired)
		trim(m, 4, now)
		if len(m) != c.remain {
			t.Errorf("%s: %d entries left, want %d", c.name, len(m), c.remain)
		}
		for _, v := range m {
			if c.n == 4 && !now.Before(v.until) {
				t.Errorf("%s: an expired entry was kept", c.name)
			}
		}
	}
}
