package replica

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/store"
)

// A replica's statement cache keeps which revocation stream its cursor
// counts in, across a restart (see the node's).
func TestStatementCacheKeepsTheRevocationStreamAcrossARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replica.db")
	testkit.KeepsRevocationStream(t, func() (testkit.StreamRecorder, func()) {
		db, err := store.OpenReplica(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := federation.Cache(cache{db: db}).(federation.StreamRecorder)
		if !ok {
			t.Fatal("the replica's statement cache does not keep the revocation stream")
		}
		return rec, func() { db.Close() }
	})
}
