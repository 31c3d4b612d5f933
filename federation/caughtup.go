package federation

import (
	"context"
	"time"
)

// A Sync is caught up over one connection (one Conn.epoch) once it has
// handled every revocation the stream held when that connection came up,
// and its state watch has handed on every value the bucket held then.
// Only then is its State marked synced (markSynced) and Ready nil: after
// an outage, the revocations published meanwhile must be applied before
// the node calls its trust current again. When the connection comes back
// the epoch changes, and the Sync catches up again before either.
// Handled, not applied: a province whose deltas wait for a snapshot or a
// keyset is answered for on its own (revocations_stale, revfresh.go), not
// held against the node as a whole, as at the first catch-up.
//
// A revocation stream created again while running (revstream.go) makes
// it catch up again in the same epoch: until it has handled the new
// stream up to its end, as read once the consumer reached it.
//
// Whether it has is checked from the stream's and the watch's own
// progress, read every caughtUpCheckEvery and at each reconnection, not
// from a message arriving: with nothing published during the outage, no
// message comes to say so.

const (
	// caughtUpCheckEvery is how often the Sync checks whether it has
	// caught up after a (re)connection: how late, at most, it is synced
	// again once it has.
	caughtUpCheckEvery = 100 * time.Millisecond
	// caughtUpStreamEvery is how many checks pass between two reads of
	// the revocation stream's bounds while catching up: messages up to
	// the end read at reconnection may age out of the stream before they
	// are delivered, and are then no longer waited for.
	caughtUpStreamEvery = int(streamCheckEvery / caughtUpCheckEvery)
)

// catchUp is the catch-up over one connection epoch. Only followCatchUp
// uses it.
type catchUp struct {
	epoch   uint64    // the connection epoch it is for
	gen     uint64    // Sync.streamGen when it started
	started time.Time // when the epoch was first seen
	applied uint64    // statements applied when it started
	read    bool      // end was read
	end     uint64    // revocation stream's last seq, read in the epoch
	created time.Time // when the stream whose end was read was created
	first   uint64    // revocation stream's first seq, last read
	checks  int       // checks since the stream's bounds were read
}

// followCatchUp checks, at each reconnection and every
// caughtUpCheckEvery, whether the Sync has caught up over the current
// connection, until ctx ends.
func (s *Sync) followCatchUp(ctx context.Context) {
	t := time.NewTicker(caughtUpCheckEvery)
	defer t.Stop()
	var cu catchUp
	for {
		reconnect := s.conn.nextReconnect()
		s.checkCaughtUp(ctx, &cu)
		select {
		case <-ctx.Done():
			return
		case <-reconnect:
		case <-t.C:
		case <-s.catchUpKick:
		}
	}
}

// checkCaughtUp marks the Sync caught up over the current connection if
// it has. cu is the catch-up in progress.
func (s *Sync) checkCaughtUp(ctx context.Context, cu *catchUp) {
	epoch, ok := s.conn.epoch()
	if !ok || s.caughtUpIn(epoch) {
		return
	}
	if gen := s.streamGen.Load(); cu.epoch != epoch || cu.gen != gen || cu.started.IsZero() {
		*cu = catchUp{epoch: epoch, gen: gen, started: s.now(), applied: s.stats.applied.Load(), checks: caughtUpStreamEvery}
	}
	if cu.checks++; cu.checks > caughtUpStreamEvery {
		b, err := s.conn.revocationBounds(ctx)
		if err != nil {
			s.log.Debug("revocation stream not read; checking the catch-up again", "err", err)
			return
		}
		cu.checks, cu.first = 0, b.first
		if !cu.read {
			cu.read, cu.end, cu.created = true, b.last, b.created
			s.mu.Lock()
			s.revs.catchUpTo = b.last
			s.mu.Unlock()
		}
	}
	if !cu.read {
		return
	}
	s.mu.Lock()
	handled, born := s.revs.last, s.revs.born
	s.mu.Unlock()
	if (handled < cu.end || !born.Equal(cu.created)) && cu.first <= cu.end {
		// The consumer has not reached the stream's end yet, or not
		// even the stream: handled counts in one created before.
		return
	}
	if s.watch.currentIn(epoch) {
		s.setCaughtUp(epoch, cu)
	}
}

// caughtUpIn reports whether the Sync has caught up over the connection
// of epoch.
func (s *Sync) caughtUpIn(epoch uint64) bool {
	return s.caughtIn.Load() == epoch+1 && s.caughtGen.Load() == s.streamGen.Load()
}

// setCaughtUp records that the Sync has caught up over the connection of
// cu.epoch. State is marked synced, and the catch-up logged, before, so
// that whoever sees Ready also sees a fresh state.
func (s *Sync) setCaughtUp(epoch uint64, cu *catchUp) {
	now := s.now()
	s.state.MarkSynced(now)
	applied := s.stats.applied.Load() - cu.applied
	took := now.Sub(cu.started).Round(time.Millisecond).String() // "103ms", as the other log lines say a duration
	switch {
	case s.caughtGen.Load() != cu.gen:
		s.log.Info("federation sync caught up again on the new revocation stream", "applied", applied, "took", took)
	case s.caughtIn.Load() != 0:
		s.log.Info("federation sync caught up again after reconnecting", "applied", applied, "took", took)
	default:
		s.log.Info("federation sync caught up", "applied", applied, "took", took)
	}
	s.caughtGen.Store(cu.gen)   // only followCatchUp writes it,
	s.caughtIn.Store(epoch + 1) // and this
	kick(s.caughtUpKick)        // markSynced saves the time at once
}

// checkCaughtUpSoon asks followCatchUp to check at once, as the
// revocation consumer reaches the stream's end. Callers hold s.mu.
func (s *Sync) checkCaughtUpSoon(streamSeq, pending uint64) {
	if pending != 0 && streamSeq < s.revs.catchUpTo {
		return
	}
	kick(s.catchUpKick)
}
