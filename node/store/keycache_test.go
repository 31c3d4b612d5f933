package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// A subject's key read once is served from memory, and deleting the
// subject takes it out of memory with the file: the key is gone for every
// later read.
func TestSubjectKeyLeavesTheCacheWhenTheSubjectIsDeleted(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	enrol(t, db, "s1")
	first, err := db.subjectKey(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if cached, _, ok := db.keyCache.get("s1"); !ok || !bytes.Equal(cached, first) {
		t.Fatalf("key read from keys.db not cached (ok %v)", ok)
	}
	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := db.keyCache.get("s1"); ok {
		t.Fatal("a deleted subject's key is still cached")
	}
	if _, err := db.subjectKey(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key of a deleted subject: %v, want ErrNotFound", err)
	}
}

// A key read before a shred, and put back after it, is not cached: the
// shred advanced the generation the read began at.
func TestKeyCacheRefusesAKeyReadBeforeAForget(t *testing.T) {
	var c keyCache
	_, gen, _ := c.get("s1") // a read of keys.db begins
	c.forget("s1")           // the subject is shredded meanwhile
	c.put("s1", []byte("sealed"), gen)
	if _, _, ok := c.get("s1"); ok {
		t.Fatal("a key read before its shred was cached")
	}
	_, gen, _ = c.get("s2")
	c.put("s2", []byte("sealed"), gen)
	c.forgetAll()
	if _, _, ok := c.get("s2"); ok {
		t.Fatal("forgetAll left a key")
	}
}
