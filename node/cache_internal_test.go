package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/store"
)

// The node's statement cache keeps which revocation stream its cursor
// counts in, across a restart: without it a node restarted after the
// stream was created again, and grew back past the cursor, would skip
// the new stream's first deltas.
func TestStatementCacheKeepsTheRevocationStreamAcrossARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	testkit.KeepsRevocationStream(t, func() (testkit.StreamRecorder, func()) {
		db, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := federation.Cache(&cache{db: db, now: time.Now}).(federation.StreamRecorder)
		if !ok {
			t.Fatal("the node's statement cache does not keep the revocation stream")
		}
		return rec, func() { db.Close() }
	})
}
