package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
)

// The erasure outbox's sender (erasure.go). Each province the outbox
// holds erasures to has a schedule of its own — the soonest next try of
// its erasures — and is sent to by a goroutine of its own, at most
// erasureSenders at a time: a province that does not answer holds its
// own sender for up to erasureAckTimeout an attempt, and delays no other
// province's erasures.
//
// A province that was away is noticed back by its heartbeat
// (Peers.PeerHeartbeat), not only at its next retry, which may be
// erasureBackoff.Max away: its erasures are made due at once and their
// backoff starts again. It counts as away while its node was not
// listening at the last attempt, before it is first heard from after
// the sender started, and after erasureHeartbeatGap without a heartbeat.
// A heartbeat of a province that was there all along does nothing, and
// one that does not acknowledge while listening (alive, but an older
// node, or a hostile one) is left to its backoff.
//
// Each province's erasures are paced below the rate at which it accepts
// them (erasureSendRate under erasureRate, peers.go): a backlog (after
// an outage, a retention pass, a sunset) drains at that rate, rather
// than in bursts of which the province drops all past its limit, each
// then waiting out erasureAckTimeout and its backoff.

// erasureSender is the state of Peers' erasure sender.
type erasureSender struct {
	mu      sync.Mutex
	heard   map[string]time.Time // each province's last fresh heartbeat, on the node's clock
	away    map[string]bool      // provinces whose node was not listening at the last attempt
	revived map[string]time.Time // when each province's erasures were last made due by its return
	revive  map[string]bool      // provinces whose erasures the next pass revives
	// pace holds each province's pace (paced) while it is not full
	// (prunePace): a province had erasures lately.
	pace map[string]*rate.Limiter

	// busy is owned by runErasures' goroutine: the provinces a sender
	// works for. A sender says on done when it has finished.
	busy map[string]bool
	done chan erasuresDone
}

// erasuresDone is a sender's end: the province it sent to, and the error
// that stopped it, if any (not an erasure unacknowledged).
type erasuresDone struct {
	asker string
	err   error
}

func newErasureSender() *erasureSender {
	return &erasureSender{heard: map[string]time.Time{}, away: map[string]bool{}, revived: map[string]time.Time{},
		revive: map[string]bool{}, pace: map[string]*rate.Limiter{}, busy: map[string]bool{}, done: make(chan erasuresDone, erasureSenders)}
}

// paced waits until one more erasure may be sent to province, on the
// node's clock, and reports whether it may (false: ctx ended). A wait
// that ctx ends gives its reservation back: the erasure is not sent, and
// the sender started after it (the node's next run) is not held back by
// a token spent on nothing.
func (s *erasureSender) paced(ctx context.Context, province string, clock func() time.Time) bool {
	now := clock()
	r := s.pacer(province).ReserveN(now, 1)
	if backoff.Wait(ctx, r.DelayFrom(now)) {
		return true
	}
	r.CancelAt(clock())
	return false
}

// prunePace forgets the pace of each province no sender works for whose
// pace is full at now: a new one would start full too, so nothing is
// lost, and provinces that no longer get erasures (one that left the
// trust list, say) do not stay in the map for the node's life.
// Called by runErasures' goroutine, which owns busy; a province's pace
// is only used by its sender.
func (s *erasureSender) prunePace(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, lim := range s.pace {
		if !s.busy[a] && lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(s.pace, a)
		}
	}
}

// forgetUnlisted forgets what the sender knows of each province listed
// reports is no longer in the trust list — its heartbeats, whether it is
// away, its revivals — so that the maps do not keep every province the
// node ever heard from. Should it be listed again, it starts as one not
// heard from since the start: its first heartbeat revives its erasures.
// listed is listedIn of the node's trust state.
func (s *erasureSender) forgetUnlisted(listed func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]time.Time{s.heard, s.revived} {
		for a := range m {
			if !listed(a) {
				delete(m, a)
			}
		}
	}
	for _, m := range []map[string]bool{s.away, s.revive} {
		for a := range m {
			if !listed(a) {
				delete(m, a)
			}
		}
	}
}

// pacer is province's pace.
func (s *erasureSender) pacer(province string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	lim, ok := s.pace[province]
	if !ok {
		lim = rate.NewLimiter(erasureSendRate, erasureSendBurst)
		s.pace[province] = lim
	}
	return lim
}

// PeerHeartbeat is told of each fresh heartbeat of another province
// (federation.SyncConfig.OnPeerHeartbeat). If that province is back, its
// erasures are sent at once rather than at their next retry; a heartbeat
// of a province that was there all along changes nothing. It does not
// block.
func (p *Peers) PeerHeartbeat(province string) {
	if p.erasures.heartbeat(province, p.n.now()) {
		kick(p.n.lookups.erasureKick)
	}
}

// heartbeat records a fresh heartbeat of province at now and reports
// whether its erasures are to be revived: it is back, and they were not
// revived within erasureReviveEvery (it stays away until they are).
func (s *erasureSender) heartbeat(province string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, heard := s.heard[province]
	s.heard[province] = now
	if heard && !s.away[province] && now.Sub(last) <= erasureHeartbeatGap {
		return false
	}
	if at, ok := s.revived[province]; ok && now.Sub(at) < erasureReviveEvery {
		s.away[province] = true
		return false
	}
	delete(s.away, province)
	s.revive[province] = true
	return true
}

// attempted records how an attempt at an erasure to province ended: a
// node not listening (no responders) makes it away; an acknowledgement,
// there.
func (s *erasureSender) attempted(province string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		delete(s.away, province)
	case errors.Is(err, federation.ErrNoResponders):
		s.away[province] = true
	}
}

// takeRevived returns the provinces whose erasures are to be revived,
// but those a sender works for: their sender's end starts another pass.
// Called by runErasures' goroutine.
func (s *erasureSender) takeRevived() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a := range s.revive {
		if !s.busy[a] {
			out = append(out, a)
			delete(s.revive, a)
		}
	}
	return out
}

// revivedAt records the outcome of reviving province's erasures at now:
// n revived, or err. Only a revival that made erasures due counts
// against erasureReviveEvery; a failed one is done again.
func (s *erasureSender) revivedAt(province string, now time.Time, n int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.revive[province] = true
	case n > 0:
		s.revived[province] = now
	}
}

// runErasures sends the erasure outbox until ctx ends: a pass when
// started, when a deletion queued erasures or a province is back, when a
// province's sender ends, and when the soonest retry is due (at least
// every retry.Max, which also expires what is past). It returns once
// its senders have.
func (p *Peers) runErasures(ctx context.Context) {
	s, retry := p.erasures, p.ErasureRetry
	var senders sync.WaitGroup
	defer senders.Wait()
	t := time.NewTimer(0)
	defer t.Stop()
	for failures := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-p.n.lookups.erasureKick:
		case d := <-s.done:
			delete(s.busy, d.asker)
			if d.err != nil && ctx.Err() == nil {
				p.log.Error("lookup erasures not sent; retrying", "to", d.asker, "err", d.err)
				t.Reset(retry.Delay(failures))
				failures++
				continue
			}
		case <-t.C:
		}
		next, err := p.erasurePass(ctx, &senders)
		wait := retry.Max
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.log.Error("erasure outbox not sent; retrying", "err", err)
			wait = retry.Delay(failures)
			failures++
		case !next.IsZero():
			failures = 0
			wait = min(max(next.Sub(p.n.now()), 0), retry.Max)
		default:
			failures = 0
		}
		t.Reset(wait)
	}
}

// erasurePass deletes the erasures expired, revives those of the
// provinces back, and starts a sender for each province whose erasures
// are due and that has none running, up to erasureSenders. It returns
// when the soonest erasure of a province without a sender is due (zero
// if none); a province with a sender, or waiting for one, is passed
// again when a sender ends.
func (p *Peers) erasurePass(ctx context.Context, senders *sync.WaitGroup) (time.Time, error) {
	s, l, db := p.erasures, p.n.lookups, p.n.db
	defer func() {
		if st, err := db.ErasureState(context.WithoutCancel(ctx)); err == nil {
			l.metrics.ErasuresPending.Set(float64(st.Pending))
		}
	}()
	now := p.n.now()
	s.prunePace(now)
	s.forgetUnlisted(listedIn(p.n.state))
	expired, err := db.DeleteExpiredErasures(ctx, now)
	if err != nil {
		return time.Time{}, err
	}
	for _, e := range expired {
		l.metrics.Erasures.WithLabelValues(erasureExpired).Inc()
		l.audit(e.Actor, actionLookupErase, e.Subject, map[string]any{"to": e.Asker, "codes": len(e.Codes), "sent": false})
		p.log.Warn("lookup erasure expired unacknowledged: the province's copy has ended with its lookup retention",
			"to", e.Asker, "attempts", e.Attempts)
	}
	for _, a := range s.takeRevived() {
		n, err := db.ReviveErasures(ctx, a, now)
		s.revivedAt(a, now, n, err)
		if err != nil {
			return time.Time{}, err
		}
	}
	askers, err := db.ErasureAskers(ctx, now, erasureAskersListed)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, a := range askers {
		switch {
		case s.busy[a.Asker]: // passed again when its sender ends
		case a.NextTry.After(now):
			if next.IsZero() || a.NextTry.Before(next) {
				next = a.NextTry
			}
		case len(s.busy) >= erasureSenders: // passed again when a sender ends
		default:
			s.busy[a.Asker] = true
			senders.Go(func() { s.done <- erasuresDone{a.Asker, p.sendErasuresTo(ctx, a.Asker)} })
		}
	}
	return next, nil
}

// sendErasuresTo sends asker's due erasures, oldest first, each after
// the one before was acknowledged and at asker's pace. Once one is not, it and the others
// wait for their next try. It returns only the errors of the database.
func (p *Peers) sendErasuresTo(ctx context.Context, asker string) error {
	l, db := p.n.lookups, p.n.db
	due, err := db.DueErasures(ctx, asker, p.n.now(), erasuresPerPass)
	if err != nil {
		return err
	}
	for i, e := range due {
		if !p.erasures.paced(ctx, asker, p.n.now) {
			return nil
		}
		err := l.sendErasure(ctx, p, asker, e.Codes)
		if ctx.Err() != nil {
			return nil
		}
		p.erasures.attempted(asker, err)
		if err != nil {
			// Rescheduled first, then counted and logged: whoever sees
			// the failure counted sees its next try written.
			now := p.n.now()
			for _, e := range due[i:] {
				if err := db.ErasureFailed(ctx, e.ID, now.Add(p.ErasureRetry.Delay(e.Attempts))); err != nil {
					return err
				}
			}
			l.metrics.Erasures.WithLabelValues(erasureFailed).Inc()
			p.log.Warn("lookup erasure not acknowledged; it will be sent again", "to", asker, "attempts", e.Attempts+1, "err", err)
			return nil
		}
		if err := db.ErasureSent(ctx, e.ID); err != nil {
			return err
		}
		l.metrics.Erasures.WithLabelValues(erasureSent).Inc()
		l.audit(e.Actor, actionLookupErase, e.Subject, map[string]any{"to": asker, "codes": len(e.Codes), "sent": true})
	}
	return nil
}
