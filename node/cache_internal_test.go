package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
)

// The node's statement cache keeps which revocation stream its cursor
// counts in, across a reopening of the database: without it a node
// restarted after the stream was created again, and grew back past the
// cursor, would skip the new stream's first deltas.
func TestStatementCacheKeepsTheRevocationStreamAcrossARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "node.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var c federation.Cache = &cache{db: db, now: time.Now}
	rec, ok := c.(federation.StreamRecorder)
	if !ok {
		t.Fatal("the node's statement cache does not keep the revocation stream")
	}
	if got, err := rec.RevocationStream(ctx); err != nil || !got.IsZero() {
		t.Fatalf("fresh database: stream %v (%v), want none", got, err)
	}
	created := time.Unix(1_800_000_000, 123_456_789)
	if err := rec.SetRevocationStream(ctx, created); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	got, err := (&cache{db: db, now: time.Now}).RevocationStream(ctx)
	if err != nil || !got.Equal(created) {
		t.Fatalf("reopened: stream %v (%v), want %v", got, err, created)
	}
}
