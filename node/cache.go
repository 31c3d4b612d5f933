package node

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/store"
)

const (
	cursorKey = "federation.revocation_cursor"
	// syncedKey holds when the federation sync last confirmed the trust
	// state current, in Unix nanoseconds (federation.SyncRecorder).
	syncedKey = "federation.last_synced"
	// streamKey holds when the revocation stream the cursor counts in was
	// created, in Unix nanoseconds (federation.StreamRecorder).
	streamKey = "federation.revocation_stream"
)

// StatementCache returns the node's federation.Cache: verified statements
// from peers kept in the node's database, so a node restarted while NATS is
// down still verifies with what it knew.
func (n *Node) StatementCache() federation.Cache { return &cache{db: n.db, now: n.now} }

// cache is a federation.Cache in db, stamping what it stores at now.
type cache struct {
	db  *store.DB
	now func() time.Time
}

func (c *cache) PutStatement(ctx context.Context, key string, raw []byte, version uint64) error {
	return c.db.PutStatement(ctx, store.Statement{Key: key, Raw: raw, Version: version, Received: c.now()})
}

func (c *cache) Statements(ctx context.Context) ([]federation.CachedStatement, error) {
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

func (c *cache) RevocationCursor(ctx context.Context) (uint64, error) {
	v, err := c.db.GetMeta(ctx, cursorKey)
	if errors.Is(err, store.ErrNotFound) || (err == nil && v == "") {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

func (c *cache) SetRevocationCursor(ctx context.Context, seq uint64) error {
	return c.db.SetMeta(ctx, cursorKey, strconv.FormatUint(seq, 10))
}

func (c *cache) DeleteStatements(ctx context.Context, prefix string, maxVersion uint64) error {
	return c.db.DeleteStatements(ctx, prefix, maxVersion)
}

// WriteBatch implements federation.BatchCache: the statements and the
// cursor in one transaction.
func (c *cache) WriteBatch(ctx context.Context, ops []federation.CacheOp, cursor uint64) error {
	now := c.now()
	sops := make([]store.StatementOp, len(ops))
	for i, o := range ops {
		sops[i] = store.StatementOp{DeletePrefix: o.Prefix, MaxVersion: o.MaxVersion,
			Put: store.Statement{Key: o.Put.Key, Raw: o.Put.Raw, Version: o.Put.Version, Received: now}}
	}
	var key, value string
	if cursor > 0 {
		key, value = cursorKey, strconv.FormatUint(cursor, 10)
	}
	return c.db.WriteStatements(ctx, sops, key, value)
}

// LastSynced implements federation.SyncRecorder.
func (c *cache) LastSynced(ctx context.Context) (time.Time, error) {
	return c.db.TimeMeta(ctx, syncedKey)
}

// SetLastSynced implements federation.SyncRecorder.
func (c *cache) SetLastSynced(ctx context.Context, t time.Time) error {
	return c.db.SetTimeMeta(ctx, syncedKey, t)
}

// RevocationStream implements federation.StreamRecorder.
func (c *cache) RevocationStream(ctx context.Context) (time.Time, error) {
	return c.db.TimeMeta(ctx, streamKey)
}

// SetRevocationStream implements federation.StreamRecorder.
func (c *cache) SetRevocationStream(ctx context.Context, created time.Time) error {
	return c.db.SetTimeMeta(ctx, streamKey, created)
}
