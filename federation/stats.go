package federation

import "sync/atomic"

// Stats counts what a Conn dropped and survived, for metrics. Every field
// only ever grows.
type Stats struct {
	// StateDelivered counts state values handed to watch handlers.
	StateDelivered uint64
	// StateOversized counts state values dropped for exceeding MaxStateLen.
	StateOversized uint64
	// StateBadKey counts state values dropped because their key is not a
	// federation key (see ParseKey).
	StateBadKey uint64
	// RevocationsDelivered counts revocation messages handed to handlers.
	RevocationsDelivered uint64
	// RevocationsOversized counts revocation messages dropped for
	// exceeding MaxRevocationLen.
	RevocationsOversized uint64
	// RevocationsBadSubject counts revocation messages dropped because
	// their subject names no valid province.
	RevocationsBadSubject uint64
	// RequestsOversized counts requests to Serve dropped for exceeding
	// MaxStateLen, snapshot requests over their small limit, and lookup
	// requests, lookup replies and receipts over theirs (or, for the
	// last two kinds, on a subject naming no valid sender).
	RequestsOversized uint64
	// RequestsDropped counts, per service, requests dropped unread
	// because the service's subscription already held as many as it may
	// (services.go): a flood, or a handler too slow.
	RequestsDropped ServiceDrops
	// SnapshotsFetched counts snapshots downloaded by GetSnapshot.
	SnapshotsFetched uint64
	// SnapshotsOversized counts snapshots refused for exceeding
	// the connection's MaxSnapshotLen.
	SnapshotsOversized uint64
	// SnapshotsMalformed counts snapshots refused because their metadata
	// claims more chunks than their size needs, a chunk is empty, or
	// their chunks do not match the size or digest their metadata names.
	SnapshotsMalformed uint64
	// HandlerErrors counts handler calls that returned an error or
	// panicked.
	HandlerErrors uint64
	// Restarts counts watchers and consumers restarted after a failure or
	// a reconnection.
	Restarts uint64
	// PermissionDenied counts operations the server refused.
	PermissionDenied uint64
	// Disconnects and Reconnects count connection losses and recoveries:
	// the sync's connection's, when the services have their own
	// (ConnConfig.ServicesConn).
	Disconnects, Reconnects uint64
	// ServicesDisconnects and ServicesReconnects count those of the
	// services' own connection; zero without one.
	ServicesDisconnects, ServicesReconnects uint64
	// SourceStepdowns counts stepdowns of this account's aggregates that
	// WatchSources asked for and the server granted (accounts mode).
	SourceStepdowns uint64
}

// Dropped is the number of messages dropped before reaching a handler.
func (s Stats) Dropped() uint64 {
	return s.StateOversized + s.StateBadKey + s.RevocationsOversized +
		s.RevocationsBadSubject + s.RequestsOversized + s.RequestsDropped.Total() +
		s.SnapshotsOversized + s.SnapshotsMalformed
}

type counters struct {
	stateDelivered, stateOversized, stateBadKey atomic.Uint64
	revDelivered, revOversized, revBadSubject   atomic.Uint64
	requestsOversized, handlerErrors, restarts  atomic.Uint64
	permissionDenied, disconnects, reconnects   atomic.Uint64
	snapFetched, snapOversized, snapMalformed   atomic.Uint64
	sourceStepdowns                             atomic.Uint64
	svcDisconnects, svcReconnects               atomic.Uint64
}

// Stats returns a snapshot of c's counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		StateDelivered:        s.stateDelivered.Load(),
		StateOversized:        s.stateOversized.Load(),
		StateBadKey:           s.stateBadKey.Load(),
		RevocationsDelivered:  s.revDelivered.Load(),
		RevocationsOversized:  s.revOversized.Load(),
		RevocationsBadSubject: s.revBadSubject.Load(),
		RequestsOversized:     s.requestsOversized.Load(),
		RequestsDropped:       c.serviceDrops(),
		SnapshotsFetched:      s.snapFetched.Load(),
		SnapshotsOversized:    s.snapOversized.Load(),
		SnapshotsMalformed:    s.snapMalformed.Load(),
		HandlerErrors:         s.handlerErrors.Load(),
		Restarts:              s.restarts.Load(),
		PermissionDenied:      s.permissionDenied.Load(),
		Disconnects:           s.disconnects.Load(),
		Reconnects:            s.reconnects.Load(),
		ServicesDisconnects:   s.svcDisconnects.Load(),
		ServicesReconnects:    s.svcReconnects.Load(),
		SourceStepdowns:       s.sourceStepdowns.Load(),
	}
}

// Dropped is the number of messages c dropped before reaching a handler.
func (c *Conn) Dropped() uint64 { return c.Stats().Dropped() }

// SyncStats counts what a Sync did, for metrics. Counters only grow;
// Waits, Cursor and CacheBacklog are gauges.
type SyncStats struct {
	// Applied and Rejected count statements (OnStatement reports each).
	Applied, Rejected uint64
	// Skipped counts revocation deltas skipped unverified because a
	// snapshot or earlier delta already covered their seq.
	Skipped uint64
	// Gaps counts revocation gaps found; SnapshotsApplied the snapshots
	// applied; SnapshotRequests the requests sent for fresh ones.
	Gaps, SnapshotsApplied, SnapshotRequests uint64
	// SnapshotsBehindPointer counts snapshots downloaded that left their
	// province short of the seq its pointer claimed (snapfetch.go): a
	// member rewriting its pointer to make peers download again.
	SnapshotsBehindPointer uint64
	// SnapshotsOverByteRate counts snapshot downloads, sound or
	// refused once downloaded, whose size deferred their province's next
	// download beyond
	// minSnapshotFetchGap (snapshotBytesPerMinute, snapfetch.go): a
	// large province's catch-up, or a member publishing ever higher
	// snapshots behind a gap it keeps open.
	SnapshotsOverByteRate uint64
	// ParkedDropped counts deltas of a blocked province dropped for lack
	// of room; a snapshot must cover them.
	ParkedDropped uint64
	// CacheErrors counts failed cache writes.
	CacheErrors uint64
	// StreamRecreations counts the times the revocation stream was found
	// not to be the one the positions handled count in (created again,
	// or another server's), at start or while running (revstream.go).
	StreamRecreations uint64
	// Waits (Pending, Parked, Blocked) is what waits, as Stats was
	// called.
	Waits
	// Cursor is the revocation stream sequence handled so far.
	Cursor uint64
	// CacheBacklog is how many applied statements wait to be written to
	// the Cache.
	CacheBacklog int
}

type syncCounters struct {
	applied, rejected, skipped, gaps   atomic.Uint64
	snapshots, requests, parkedDropped atomic.Uint64
	cacheErrors, behindPointer         atomic.Uint64
	overByteRate, recreated            atomic.Uint64
}

// Stats returns a snapshot of s's counters.
func (s *Sync) Stats() SyncStats {
	c := &s.stats
	st := SyncStats{
		Applied: c.applied.Load(), Rejected: c.rejected.Load(), Skipped: c.skipped.Load(),
		Gaps: c.gaps.Load(), SnapshotsApplied: c.snapshots.Load(), SnapshotRequests: c.requests.Load(),
		ParkedDropped: c.parkedDropped.Load(), CacheErrors: c.cacheErrors.Load(),
		SnapshotsBehindPointer: c.behindPointer.Load(), SnapshotsOverByteRate: c.overByteRate.Load(),
		StreamRecreations: c.recreated.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Waits = s.waitsLocked()
	st.Cursor = s.revs.cursor()
	st.CacheBacklog = s.persist.backlog()
	return st
}

// SnapshotsBehindPointer is SyncStats.SnapshotsBehindPointer, read
// without waiting for Sync's lock.
func (s *Sync) SnapshotsBehindPointer() uint64 { return s.stats.behindPointer.Load() }

// SnapshotsOverByteRate is SyncStats.SnapshotsOverByteRate, read without
// waiting for Sync's lock.
func (s *Sync) SnapshotsOverByteRate() uint64 { return s.stats.overByteRate.Load() }

// StreamRecreations is SyncStats.StreamRecreations, read without waiting
// for Sync's lock.
func (s *Sync) StreamRecreations() uint64 { return s.stats.recreated.Load() }

// CacheHealth returns the failed cache writes so far and the applied
// statements waiting to be written. Unlike Stats it does not wait for
// Sync's lock, which a handler may hold while the cache backlog is full.
func (s *Sync) CacheHealth() (failures uint64, backlog int) {
	return s.stats.cacheErrors.Load(), s.persist.backlog()
}

// Waits is what a Sync holds back, waiting: the gauges of SyncStats.
type Waits struct {
	// Pending is how many statements wait for what they depend on,
	// snapshots waiting for a keyset (snapwait.go) included.
	Pending int
	// Parked is how many deltas wait behind a gap or a missing keyset,
	// and Blocked how many provinces they belong to.
	Parked, Blocked int
}

// waitGauges holds the Waits last counted, for readers that must not wait
// for Sync.mu.
type waitGauges struct{ pending, parked, blocked atomic.Int64 }

// waitsLocked counts what s holds back. Callers hold s.mu.
func (s *Sync) waitsLocked() Waits {
	return Waits{Pending: s.pending.len() + len(s.revs.snapWaits), Parked: s.revs.parkedCount(),
		Blocked: len(s.revs.blocked)}
}

// unlock records what s holds back for Waits and releases s.mu. Every
// section that may change the pending set, the blocked provinces or the
// snapshot waits ends with it.
func (s *Sync) unlock() {
	w := s.waitsLocked()
	s.waits.pending.Store(int64(w.Pending))
	s.waits.parked.Store(int64(w.Parked))
	s.waits.blocked.Store(int64(w.Blocked))
	s.mu.Unlock()
}

// Waits returns what s held back when it last released its lock. Unlike
// Stats it does not wait for that lock, which a handler may hold while the
// cache backlog is full: a metrics scrape reads it.
func (s *Sync) Waits() Waits {
	return Waits{Pending: int(s.waits.pending.Load()), Parked: int(s.waits.parked.Load()),
		Blocked: int(s.waits.blocked.Load())}
}
