package federation

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// sqlCache is the node's statement cache (node/cache.go) over the
// production SQLite store, for benchmarks in this package (which cannot
// import node): PutStatement, WriteBatch and the cursor map to the same
// store calls.
type sqlCache struct{ db *store.DB }

const sqlCursorKey = "federation.revocation_cursor"

func openSQLCache(b testing.TB) *sqlCache {
	b.Helper()
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "node.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return &sqlCache{db: db}
}

func (c *sqlCache) PutStatement(ctx context.Context, key string, raw []byte, version uint64) error {
	return c.db.PutStatement(ctx, store.Statement{Key: key, Raw: raw, Version: version, Received: time.Now()})
}

func (c *sqlCache) Statements(ctx context.Context) ([]CachedStatement, error) {
	ss, err := c.db.Statements(ctx)
	out := make([]CachedStatement, len(ss))
	for i, s := range ss {
		out[i] = CachedStatement{Key: s.Key, Raw: s.Raw, Version: s.Version}
	}
	return out, err
}

func (c *sqlCache) RevocationCursor(ctx context.Context) (uint64, error) {
	v, err := c.db.GetMeta(ctx, sqlCursorKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

func (c *sqlCache) SetRevocationCursor(ctx context.Context, seq uint64) error {
	return c.db.SetMeta(ctx, sqlCursorKey, strconv.FormatUint(seq, 10))
}

func (c *sqlCache) DeleteStatements(ctx context.Context, prefix string, maxVersion uint64) error {
	return c.db.DeleteStatements(ctx, prefix, maxVersion)
}

func (c *sqlCache) WriteBatch(ctx context.Context, ops []CacheOp, cursor uint64) error {
	sops := make([]store.StatementOp, len(ops))
	for i, o := range ops {
		sops[i] = store.StatementOp{DeletePrefix: o.Prefix, MaxVersion: o.MaxVersion,
			Put: store.Statement{Key: o.Put.Key, Raw: o.Put.Raw, Version: o.Put.Version, Received: time.Now()}}
	}
	var key, value string
	if cursor > 0 {
		key, value = sqlCursorKey, strconv.FormatUint(cursor, 10)
	}
	return c.db.WriteStatements(ctx, sops, key, value)
}

// persisted reports whether u has written everything it applied, the
// cursor included, to its cache.
func persisted(u *syncUnderTest, c *sqlCache, cursor uint64) error {
	if n := u.Stats().CacheBacklog; n > 0 {
		return errors.New(strconv.Itoa(n) + " statements not written")
	}
	got, err := c.RevocationCursor(context.Background())
	if err != nil {
		return err
	}
	if got < cursor {
		return errors.New("cursor " + strconv.FormatUint(got, 10) + " saved, want " + strconv.FormatUint(cursor, 10))
	}
	return nil
}

// BenchmarkCatchUp100kSQLite is BenchmarkCatchUp100k on the production
// SQLite statement cache: from Run until every code is revoked AND the
// snapshot or every delta, and the cursor, are written to the database.
//
//	go test -run '^$' -bench CatchUp100kSQLite -benchtime 1x ./federation
func BenchmarkCatchUp100kSQLite(b *testing.B) {
	benchCatchUp(b, 100_000, 600*time.Second, func(b *testing.B, n int) (Cache, func(*syncUnderTest) error) {
		c := openSQLCache(b)
		return c, func(u *syncUnderTest) error { return persisted(u, c, uint64(n)) }
	})
}

// BenchmarkIngestSQLite measures one peer's ingest of a revocation storm
// on the production SQLite cache: deltas of 3,000 entries each, from the
// Run until every code is revoked in State and every delta
// and the cursor are written. Reports revoked codes per second.
//
//	go test -run '^$' -bench IngestSQLite -benchtime 1x ./federation
func BenchmarkIngestSQLite(b *testing.B) {
	const per, count = 3000, 34 // 102,000 codes
	f := newFixture(b)
	raws := make([][]byte, count)
	for i := range raws {
		from := i*per + 1
		raws[i] = f.revocationOf(gd, uint64(i+1), f.entries(gd, from, from+per))
	}
	s := runServer(b)
	gdc := connectReady(b, s, gd)
	put(b, gdc, "440000.keyset", f.keyset(gd, 1))
	publishDeltas(b, gdc, gd, 1, raws)
	var total time.Duration
	for b.Loop() {
		c := openSQLCache(b)
		u := f.newSync(connectReady(b, s, sh), sh, func(cfg *SyncConfig) { cfg.Logger, cfg.Cache = nil, c })
		start := time.Now() // from Run: the keyset and the connection are counted too
		u.run(b)
		checkFor(b, 600*time.Second, time.Millisecond, func() error {
			if u.state.RevocationSeq(gd) < count {
				return errors.New("not all deltas applied")
			}
			return persisted(u, c, count)
		})
		total += time.Since(start)
		if err := revokedThrough(u.state, gd, per*count); err != nil {
			b.Fatal(err)
		}
		u.stop()
	}
	b.ReportMetric(float64(per*count*b.N)/total.Seconds(), "codes/s")
}
