package replica

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
)

const (
	// cursorMeta holds the revocation stream position the sync reached.
	cursorMeta = "federation.revocation_cursor"
	// syncedMeta holds when the sync last confirmed the trust state
	// current, in Unix nanoseconds (federation.SyncRecorder).
	syncedMeta = "federation.last_synced"
	// streamMeta holds when the revocation stream the cursor counts in
	// was created, in Unix nanoseconds (federation.StreamRecorder).
	streamMeta = "federation.revocation_stream"
)

// StatementCache returns the replica's federation.Cache: the statements
// its sync verified, kept in replica.db, so that a replica restarted
// while NATS is unreachable verifies with what it knew, revocations
// included.
func (r *Replica) StatementCache() federation.Cache { return cache{db: r.db} }

type cache struct{ db *store.ReplicaDB }

func (c cache) PutStatement(ctx context.Context, key string, raw []byte, version uint64) error {
	return c.db.PutStatement(ctx, key, raw, version)
}

func (c cache) Statements(ctx context.Context) ([]federation.CachedStatement, error) {
	ss, err := c.db.Statements(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]federation.CachedStatement, len(ss))
	for i, s := range ss {
		out[i] = federation.CachedStatement{Key: s.Key, Raw: s.Raw, Version: s.Version}
	}
	return out, nil
}

func (c cache) RevocationCursor(ctx context.Context) (uint64, error) {
	v, err := c.db.Meta(ctx, cursorMeta)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(v), 10, 64)
}

func (c cache) SetRevocationCursor(ctx context.Context, seq uint64) error {
	return c.db.SetMeta(ctx, cursorMeta, []byte(strconv.FormatUint(seq, 10)))
}

func (c cache) DeleteStatements(ctx context.Context, prefix string, maxVersion uint64) error {
	return c.db.DeleteStatements(ctx, prefix, maxVersion)
}

// LastSynced implements federation.SyncRecorder: home's refreshes tell
// a restarted replica of home's own revocations only, so trust.stale_limit
// must count from its last contact with the federation.
func (c cache) LastSynced(ctx context.Context) (time.Time, error) {
	return c.db.TimeMeta(ctx, syncedMeta)
}

// SetLastSynced implements federation.SyncRecorder.
func (c cache) SetLastSynced(ctx context.Context, t time.Time) error {
	return c.db.SetTimeMeta(ctx, syncedMeta, t)
}

// RevocationStream implements federation.StreamRecorder.
func (c cache) RevocationStream(ctx context.Context) (time.Time, error) {
	return c.db.TimeMeta(ctx, streamMeta)
}

// SetRevocationStream implements federation.StreamRecorder.
func (c cache) SetRevocationStream(ctx context.Context, created time.Time) error {
	return c.db.SetTimeMeta(ctx, streamMeta, created)
}
