package federation

import (
	"context"
	"fmt"
	"time"
)

// A revocation stream deleted and created again (an operator's mistake,
// lost server storage, or anyone with the rights to) numbers its messages
// afresh from 1. The cursor, the last position handled and the positions
// a blocked province holds from all count in one stream, known by its
// creation time (revTracker.born). Read in another stream they would be
// wrong: once the new stream has grown back to the cursor, its first
// deltas would be taken as handled, and the Sync would call itself caught
// up at once and keep answering for codes those deltas revoke.
//
// So the creation time goes with the positions. At start (startCursor) a
// cursor saved in another stream, or past the stream's end, is dropped and
// the stream read from its start; while running, the first message of a
// new stream (RevocationMsg.StreamCreated) moves every position into it
// (streamRecreated), and the Sync catches up again before it is Ready or
// marks its State synced. Either way the new stream is read from its
// start: what it holds that is already applied is skipped unverified, and
// nothing applied is ever taken back (revocations are only added); a
// province's seq that the new stream skips is a gap, filled from the
// province's snapshot. Both are logged as errors, with both positions, and
// counted (StreamRecreations).

// startCursor is where the revocation consumer starts: after the cursor
// saved, unless it counts in another stream than the one there now (the
// Cache is a StreamRecorder and names another, or the cursor is past the
// stream's end), in which case the cursor 0 is saved and then the new
// stream recorded. It returns the stream's bounds as read.
func (s *Sync) startCursor(ctx context.Context) (uint64, streamBounds, error) {
	b, err := s.conn.revocationBounds(ctx)
	if err != nil || s.cache == nil {
		return 0, b, err
	}
	cursor, err := s.cache.RevocationCursor(ctx)
	if err != nil {
		return 0, b, fmt.Errorf("revocation cursor: %w", err)
	}
	var was time.Time
	rec, recorded := s.cache.(StreamRecorder)
	if recorded {
		if was, err = rec.RevocationStream(ctx); err != nil {
			return 0, b, fmt.Errorf("revocation stream: %w", err)
		}
	}
	// A cursor saved before streams were recorded (was zero) is kept if
	// the stream reaches it: nothing tells which stream it counts in.
	other := cursor > b.last || (cursor > 0 && !was.IsZero() && !was.Equal(b.created))
	if other {
		s.stats.recreated.Add(1)
		s.log.Error("the revocation stream was created again since this node last read it (or this is another server's): "+
			"its cursor counts in the old one; reading the new one from its start",
			"cursor", cursor, "stream_last", b.last, "stream_created", b.created, "was_created", was)
		cursor = 0
	}
	if other || (recorded && !was.Equal(b.created)) {
		if err := s.saveStream(ctx, b.created, other); err != nil {
			return 0, b, err
		}
	}
	return cursor, b, nil
}

// saveStream records created as the stream the cursor counts in, saving
// the cursor 0 first if reset: a crash between the two leaves the old
// stream recorded with the cursor 0, never a new stream with an old
// cursor.
func (s *Sync) saveStream(ctx context.Context, created time.Time, reset bool) error {
	if reset {
		if err := s.cache.SetRevocationCursor(ctx, 0); err != nil {
			return fmt.Errorf("revocation cursor: %w", err)
		}
	}
	if rec, ok := s.cache.(StreamRecorder); ok {
		if err := rec.SetRevocationStream(ctx, created); err != nil {
			return fmt.Errorf("revocation stream: %w", err)
		}
	}
	return nil
}

// streamRecreated moves the positions into the stream m was read from, a
// stream created since the one they counted in: m is its first message
// handled. The Sync catches up again (caughtup.go); the cursor 0 and the
// new stream are saved before any cursor in it (persister.restart); a
// blocked province's parked deltas, read from the old stream, keep the
// cursor before m until the province is caught up. Callers hold s.mu.
func (s *Sync) streamRecreated(m RevocationMsg) {
	s.stats.recreated.Add(1)
	s.log.Error("the revocation stream was created again: the positions handled count in the old one; reading the new one from its start",
		"cursor", s.revs.cursor(), "stream_seq", m.StreamSeq, "stream_last", m.StreamSeq+m.Pending,
		"stream_created", m.StreamCreated, "was_created", s.revs.born)
	s.revs.born = m.StreamCreated
	s.revs.last, s.revs.saved, s.revs.sinceSave, s.revs.catchUpTo = 0, 0, 0, 0
	for _, q := range s.revs.blocked {
		q.holdFrom = m.StreamSeq
	}
	if s.cache != nil {
		s.persist.restart(m.StreamSeq, m.StreamCreated)
	}
	s.streamGen.Add(1)
}
