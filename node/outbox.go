package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// outboxStuckAfter is the default Link.StuckAfter. A revocation normally
// reaches the stream in milliseconds; a burst of thousands of status
// changes drains in seconds.
const outboxStuckAfter = 30 * time.Second

// outboxBackoff spaces attempts to drain the revocation outbox after a
// failure; a new revocation or the Republish tick tries again sooner.
var outboxBackoff = backoff.Policy{Min: 500 * time.Millisecond, Max: 5 * time.Second}

// drainOutbox signs and publishes every pending revocation in seq order,
// marking each published only once the stream holds it. A revocation
// that can never be published is set aside, and the later ones go on.
func (l *Link) drainOutbox(ctx context.Context) error {
	defer func() {
		if err := l.n.RefreshOutboxMetrics(context.WithoutCancel(ctx)); err != nil {
			l.log.Warn("revocation outbox metrics", "err", err)
		}
	}()
	pending, err := l.n.db.PendingRevocations(ctx)
	if err != nil || len(pending) == 0 {
		return err
	}
	setAside := false
	for _, r := range pending {
		err := l.publishRevocation(ctx, r)
		switch {
		case err == nil:
			if err := l.n.db.MarkPublished(ctx, r.Seq); err != nil {
				return err
			}
			l.setStreamErr(nil)
			l.n.metrics.OutboxPending.Dec()
		case permanentFailure(err) != "":
			if err := l.setAside(ctx, r, err); err != nil {
				return err
			}
			setAside = true
		case errors.Is(err, federation.ErrStreamMissing):
			l.recreateStream(ctx)
			return err // retried shortly, on the new stream if it was made
		default:
			return err
		}
	}
	if setAside {
		// Peers see a gap in seq and need a snapshot that covers it.
		return l.publishSnapshot(ctx, true)
	}
	kick(l.snapKick)
	return nil
}

// errTooManyEntries is a revocation with more entries than peers accept
// in one statement: one committed before the outbox split revocations.
var errTooManyEntries = errors.New("more entries than one revocation statement may hold")

// Why a revocation was set aside, as the outbox keeps it and /readyz
// says it: stable reason codes, nothing else (permanentFailure).
const (
	poisonTooManyEntries = "too_many_entries"
	poisonTooLarge       = "too_large"
	// poisonUnrecognised is what /readyz says for a reason kept in the
	// database that is none of the above (an older or newer build's, a
	// database edited by hand): the kept text goes to the log only.
	poisonUnrecognised = "unrecognised"
)

// permanentFailure names why publishing a revocation can never succeed,
// or is "" for a failure that may pass.
func permanentFailure(err error) string {
	switch {
	case errors.Is(err, errTooManyEntries):
		return poisonTooManyEntries
	case errors.Is(err, federation.ErrTooLarge):
		return poisonTooLarge
	}
	return ""
}

// publishRevocation signs r and publishes it. It signs anew at every
// attempt: the statement's message id hashes its bytes, so an id seen on
// the wire cannot be claimed ahead of a retry.
func (l *Link) publishRevocation(ctx context.Context, r store.Revocation) error {
	if len(r.Entries) > trust.MaxRevocationEntries {
		return fmt.Errorf("revocation %d: %d entries, limit %d: %w", r.Seq, len(r.Entries), trust.MaxRevocationEntries, errTooManyEntries)
	}
	raw, err := l.n.Signer().Sign(trust.TypRevocation, trust.Revocation{Issuer: l.n.Province(), Seq: r.Seq,
		IssuedAt: r.Created.Unix(), Entries: toTrustEntries(r.Entries)})
	if err != nil {
		return err
	}
	return l.conn.PublishRevocation(ctx, l.n.Province(), r.Seq, []byte(raw))
}

// setAside marks r poisoned, so that it no longer holds back the outbox.
// Its codes stay revoked here and reach peers in the next snapshot.
func (l *Link) setAside(ctx context.Context, r store.Revocation, cause error) error {
	why := permanentFailure(cause)
	if err := l.n.db.PoisonRevocation(ctx, r.Seq, why, l.n.Now()); err != nil {
		return err
	}
	l.log.Error("revocation set aside: it can never be published; peers get its codes from the next snapshot",
		"seq", r.Seq, "entries", len(r.Entries), "reason", why, "err", cause)
	return nil
}

// streamGoneSettle is how long the revocation stream must have been
// found missing before this node creates it again. nats-server takes a
// stream being deleted out of its account before it moves the stream's
// files away: a stream created under the same name in between had its
// files moved away with the old one's, and refused every message from
// then on ("critical write error"; its publishers time out), while it
// exists, so nobody creates it again. Every node checks, so one whose
// check fell inside the deletion broke the stream for the federation:
// seen with nodes checking every 200 ms on a loaded machine. A deletion
// takes milliseconds; waiting this long after first finding the stream
// missing lets it finish.
const streamGoneSettle = 2 * time.Second

// recreateStream creates the federation's streams again after the
// revocation stream went missing, once it has been missing for
// streamGoneSettle (until then it only notes when it was found missing).
// If this node may not (its NATS permissions allow no stream
// administration), Ready says so until an operator has recreated it.
func (l *Link) recreateStream(ctx context.Context) {
	now := l.n.Now()
	l.streamMu.Lock()
	first := l.streamGoneAt.IsZero()
	if first {
		l.streamGoneAt = now
	}
	gone := now.Sub(l.streamGoneAt)
	l.streamMu.Unlock()
	if gone < streamGoneSettle {
		if first {
			l.log.Warn("revocation stream missing; creating it again if it is still missing after a deletion in progress could finish",
				"wait", streamGoneSettle.String())
		}
		return
	}
	if err := l.conn.EnsureRevocationStream(ctx); err != nil {
		l.setStreamErr(err)
		l.log.Error("revocation stream missing and not recreated; revocations wait in the outbox", "err", err)
		return
	}
	l.setStreamErr(nil)
	l.log.Warn("revocation stream was missing; created it again")
}

// checkStream recreates the revocation stream if it has gone while the
// outbox was idle. A failure to ask (NATS unreachable) changes nothing.
func (l *Link) checkStream(ctx context.Context) {
	if ok, err := l.conn.HasRevocationStream(ctx); err == nil && !ok {
		l.recreateStream(ctx)
	} else if ok {
		l.setStreamErr(nil)
	}
}

// setStreamErr records why the stream is missing and not recreated (nil:
// it is there, or was just created) and, when nil, forgets that it was
// found missing.
func (l *Link) setStreamErr(err error) {
	l.streamMu.Lock()
	defer l.streamMu.Unlock()
	l.streamErr = err
	if err == nil {
		l.streamGoneAt = time.Time{}
	}
}

// Ready reports whether revocations are flowing to the federation: nil,
// or why not (for /readyz). It reads the outbox from the database.
func (l *Link) Ready(ctx context.Context) error {
	l.streamMu.Lock()
	streamErr := l.streamErr
	l.streamMu.Unlock()
	st, err := l.n.db.OutboxState(ctx)
	if err != nil {
		return notReady(ReadyStore, "revocation outbox unreadable: database not reachable", err)
	}
	return outboxProblem(st, l.covered.Load(), streamErr, l.n.Now(), l.StuckAfter)
}

// outboxProblem is Ready's rule: the stream must exist, every revocation
// set aside must be covered by a published snapshot, and none may have
// waited longer than stuckAfter.
func outboxProblem(st store.OutboxState, covered uint64, streamErr error, now time.Time, stuckAfter time.Duration) error {
	if streamErr != nil {
		return notReady(ReadyRevocationStream, "revocation stream missing and this node could not create it: "+
			"a federation operator must run EnsureStreams", streamErr)
	}
	if st.LastPoisoned > covered {
		why, kept := st.LastPoisonWhy, error(nil)
		if why != poisonTooManyEntries && why != poisonTooLarge {
			why, kept = poisonUnrecognised, fmt.Errorf("the outbox keeps the reason %q", st.LastPoisonWhy)
		}
		return notReady(ReadyRevocationOutbox, fmt.Sprintf("revocation %d could not be published (%s) and no snapshot covers it yet",
			st.LastPoisoned, why), kept)
	}
	if age := now.Sub(st.OldestPending); !st.OldestPending.IsZero() && age > stuckAfter {
		return notReady(ReadyRevocationOutbox, fmt.Sprintf("revocation outbox stuck: %d statements pending, the oldest for %s (see the log)",
			st.Pending, age.Round(time.Second)), nil)
	}
	return nil
}

// RefreshOutboxMetrics sets the outbox gauges (revocations and erasures)
// from the database, so they are right from the start, before the
// federation is reached.
func (n *Node) RefreshOutboxMetrics(ctx context.Context) error {
	return n.metrics.refreshOutbox(ctx, n.db)
}

// refreshOutbox sets the outbox gauges from db (Node.RefreshOutboxMetrics).
func (m *Metrics) refreshOutbox(ctx context.Context, db *store.DB) error {
	st, err := db.OutboxState(ctx)
	if err != nil {
		return err
	}
	es, err := db.ErasureState(ctx)
	if err != nil {
		return err
	}
	m.OutboxPending.Set(float64(st.Pending))
	m.OutboxPoisoned.Set(float64(st.Poisoned))
	m.ErasuresPending.Set(float64(es.Pending))
	return nil
}
