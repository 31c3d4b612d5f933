package federation

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Cache keeps every statement Sync has verified and applied, so that a
// node restarted while NATS is unreachable still verifies with what it
// knew (until trust_stale), and the revocation stream position Sync has
// reached. The node implements it over SQLite. Sync calls it from one
// goroutine at a time.
type Cache interface {
	// PutStatement stores raw under key, replacing what is stored under
	// key if version is not lower than its version; a lower version is
	// ignored without error, so a replay never rolls the cache back.
	PutStatement(ctx context.Context, key string, raw []byte, version uint64) error
	// Statements returns every stored statement, in any order.
	Statements(ctx context.Context) ([]CachedStatement, error)
	// RevocationCursor returns the last revocation stream sequence saved
	// with SetRevocationCursor, or 0.
	RevocationCursor(ctx context.Context) (uint64, error)
	// SetRevocationCursor saves the revocation stream sequence up to which
	// every message has been handled and every applied one cached.
	SetRevocationCursor(ctx context.Context, seq uint64) error
}

// CachePruner may be implemented by a Cache to let Sync forget revocation
// deltas that a cached snapshot has made redundant, so the cache and
// Restore stay small. Without it, deltas accumulate until the node prunes
// them itself.
type CachePruner interface {
	// DeleteStatements deletes every statement whose key starts with
	// prefix and whose version is at most maxVersion.
	DeleteStatements(ctx context.Context, prefix string, maxVersion uint64) error
}

// SyncRecorder may be implemented by a Cache to keep when Sync last
// confirmed the State current (State.MarkSynced). Restore gives that time
// back to the State, so that trust.stale_limit counts from the node's last
// contact with the federation: without it a State restored while NATS is
// unreachable knows of no sync at all and applies no staleness limit but
// the trust list's expiry, and verifies codes revoked meanwhile as valid.
// Sync calls it from its own goroutine, besides the Cache's other methods.
type SyncRecorder interface {
	// LastSynced returns the time saved with SetLastSynced, or the zero
	// time if none was.
	LastSynced(ctx context.Context) (time.Time, error)
	// SetLastSynced saves t.
	SetLastSynced(ctx context.Context, t time.Time) error
}

// StreamRecorder may be implemented by a Cache to keep which revocation
// stream the saved cursor counts in, by the stream's creation time. A
// stream deleted and created again numbers its messages afresh: once it
// has grown back to the cursor, a cursor of the old stream would skip
// the new stream's first deltas, and nothing else would tell. Without
// it, only a new stream still shorter than the cursor is noticed at a
// restart. Sync saves the cursor 0 before it records a new stream.
type StreamRecorder interface {
	// RevocationStream returns the creation time saved with
	// SetRevocationStream, or the zero time if none was.
	RevocationStream(ctx context.Context) (time.Time, error)
	// SetRevocationStream saves created.
	SetRevocationStream(ctx context.Context, created time.Time) error
}

// CachedStatement is one statement as a Cache returns it.
type CachedStatement struct {
	Key     string
	Raw     []byte
	Version uint64
}

// Cache keys are the state bucket key of each statement (see Topic.Key):
// "trustlist", "<p>.keyset", "<p>.contentkey.<self>", and for a snapshot
// "<p>.revsnapshot" holding the snapshot itself, not the bucket's pointer.
// Revocation deltas have no bucket key and are cached as
// "<p>.revocations.<seq>".

// deltaKey is the cache key of province p's revocation delta seq.
func deltaKey(p string, seq uint64) string {
	return p + "." + string(KindRevocations) + "." + strconv.FormatUint(seq, 10)
}

// deltaPrefix is the cache key prefix of province p's deltas.
func deltaPrefix(p string) string { return p + "." + string(KindRevocations) + "." }

// cacheEntry is a cached statement with what its key names.
type cacheEntry struct {
	CachedStatement
	topic Topic
	seq   uint64 // deltas: the seq in the key
}

// readCacheKey reads a cache key back; ok is false for a key Sync did not
// write.
func readCacheKey(key string) (Topic, uint64, bool) {
	if p, seq, found := strings.Cut(key, "."+string(KindRevocations)+"."); found {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil || ValidateProvince(p) != nil {
			return Topic{}, 0, false
		}
		return Topic{Kind: KindRevocations, Province: p}, n, true
	}
	t, err := ParseKey(key)
	return t, 0, err == nil
}

// restoreOrder is the order in which Restore applies cached statements:
// each kind is verified against the ones before it.
var restoreOrder = map[Kind]int{
	KindTrustList: 0, KindKeyset: 1, KindContentKey: 2, KindRevSnapshot: 3, KindRevocations: 4, KindHeartbeat: 5,
}

// Restore re-applies the statements in the Cache to the State, in
// dependency order (pinned trust list, cached trust list, keysets,
// content-key grants, revocation snapshots, each province's deltas in seq
// order, then the heartbeat that last showed them current, see
// heartbeatClaim), verifying each one again. Call it before Run, and
// without a connection if need be: a node started while NATS is down
// then verifies with what it last knew. A cached statement that no longer
// applies (expired, superseded) is skipped and logged; only a failure to
// read the cache is returned.
func (s *Sync) Restore(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	all, err := s.cache.Statements(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var entries []cacheEntry
	for _, st := range all {
		t, seq, ok := readCacheKey(st.Key)
		if !ok || (t.Kind == KindContentKey && t.Peer != s.self) {
			continue
		}
		entries = append(entries, cacheEntry{CachedStatement: st, topic: t, seq: seq})
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if oa, ob := restoreOrder[a.topic.Kind], restoreOrder[b.topic.Kind]; oa != ob {
			return oa < ob
		}
		if a.topic.Province != b.topic.Province {
			return a.topic.Province < b.topic.Province
		}
		return a.seq < b.seq
	})

	s.mu.Lock()
	s.applyPinned()
	applied := 0
	for _, e := range entries {
		if s.restoreOne(e) {
			applied++
		}
	}
	s.unlock()
	if rec, ok := s.cache.(SyncRecorder); ok {
		synced, err := rec.LastSynced(ctx)
		if err != nil {
			return fmt.Errorf("restore: time of the last sync: %w", err)
		}
		if !synced.IsZero() {
			s.state.MarkSynced(synced) // trust_stale once trust.stale_limit has passed since
		}
	}
	s.log.Info("federation state restored from cache", "statements", len(entries), "applied", applied)
	if err := s.flush(ctx); err != nil {
		// What was restored came from the cache; only the pinned trust
		// list may be missing from it, and it is pinned anyway.
		s.log.Error("federation cache not written after restore", "err", err)
	}
	return nil
}

// restoreOne applies one cached statement and reports whether it took.
// Callers hold s.mu.
func (s *Sync) restoreOne(e cacheEntry) bool {
	now := s.now()
	p := e.topic.Province
	var err error
	switch e.topic.Kind {
	case KindTrustList:
		if s.holdsTrustList(e.Raw) {
			return true
		}
		err = s.state.ApplyTrustList(e.Raw, now)
	case KindKeyset:
		if s.holdsKeyset(p, e.Raw) {
			return true
		}
		err = s.state.ApplyKeyset(p, string(e.Raw), now)
	case KindContentKey:
		err = s.state.ApplyGrant(p, string(e.Raw), now)
	case KindRevSnapshot:
		if e.Version <= s.state.RevocationSeq(p) {
			return false
		}
		err = s.state.ApplyRevocationSnapshot(p, e.Raw, now)
		if err == nil {
			s.revs.snapshotCached(p, e.Version)
		}
	case KindRevocations:
		if e.seq <= s.state.RevocationSeq(p) {
			return false
		}
		var gap bool
		gap, err = s.state.ApplyRevocation(p, string(e.Raw), now)
		if gap {
			// A hole in the cache (a delta was lost, or pruned without its
			// snapshot): the live sync fills it from a snapshot.
			s.log.Info("cached revocations have a gap", "province", p, "seq", e.seq,
				"holding", s.state.RevocationSeq(p))
			return false
		}
		if err == nil {
			s.revs.deltaCached(p)
		}
	case KindHeartbeat:
		var hb trust.Heartbeat
		if hb, err = s.recordHeartbeat(p, e.Raw, now); err == nil && !s.ownsRevocations(p) && s.keysetCurrent(p, hb) {
			s.state.NoteRevocationSeq(p, hb.RevocationSeq, time.Unix(hb.IssuedAt, 0))
		}
	}
	if err != nil {
		s.log.Info("cached statement no longer applies", "kind", string(e.topic.Kind), "province", p,
			"reason", string(trust.ReasonOf(err)))
		return false
	}
	return true
}
