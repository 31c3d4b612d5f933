package replica

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
)

// A replica's statement cache keeps which revocation stream its cursor
// counts in, across a reopening of its database (see the node's).
func TestStatementCacheKeepsTheRevocationStreamAcrossARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "replica.db")
	db, err := store.OpenReplica(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := federation.Cache(cache{db: db}).(federation.StreamRecorder)
	if !ok {
		t.Fatal("the replica's statement cache does not keep the revocation stream")
	}
	created := time.Unix(1_800_000_000, 123_456_789)
	if err := rec.SetRevocationStream(ctx, created); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.OpenReplica(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	got, err := cache{db: db}.RevocationStream(ctx)
	if err != nil || !got.Equal(created) {
		t.Fatalf("reopened: stream %v (%v), want %v", got, err, created)
	}
}
