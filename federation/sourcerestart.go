package federation

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Setting an aggregate's unheard sources up again where there is no
// other leader to step it down to (accounts mode; one server, or
// aggregates of one replica). A server restarted on its store enables its
// accounts' JetStream one after another, restoring each account's streams
// as it goes: an aggregate of an account restored early asks the accounts
// not enabled yet for its sourcing consumers, nobody answers, and
// nats-server (v2.15.2) waits 30 s for the answer and 10 s more before it
// asks again; a source whose origin stream is missing is retried after
// 10 s, 20 s, up to 2 minutes. Meanwhile that province's copy lacks its
// peers' keys and revocations. A stream update that keeps a source leaves
// it as it is; one that drops it ends its set-up, and one that adds it
// again sets it up at once, after the last message the aggregate holds
// from it. SetupAccounts, which every start of an embedded server runs
// with the admin seeds, does that for each source still unheard after
// sourceSettle.
const (
	// sourceSettle is how long a source may take to answer after the
	// server started before it is set up again: on one server a set-up
	// is scheduled within 0.6 s and answered at once.
	sourceSettle = 3 * time.Second
	// sourceHeardWithin is the longest silence of a source that was set
	// up: it hears a heartbeat every second.
	sourceHeardWithin = 3 * time.Second
	// sourcePoll is how often the sources are read while they settle.
	sourcePoll = 100 * time.Millisecond
)

// restartUnheardSources sets the sources of this account's aggregates up
// again that are unheard (quiet for sourceHeardWithin, or failed; never
// heard by the server by settled), on an aggregate with no Raft group to
// step down in; it returns how many. It needs the admin's permissions (a
// stream update).
func (c *Conn) restartUnheardSources(ctx context.Context, settled time.Time) (int, error) {
	if c.iso == nil || c.iso.owner == operatorTag {
		return 0, nil
	}
	n := 0
	for _, stream := range []string{c.stream, "KV_" + c.bucket} {
		k, err := c.restartUnheard(ctx, stream, settled)
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// restartUnheard is restartUnheardSources for one aggregate.
func (c *Conn) restartUnheard(ctx context.Context, stream string, settled time.Time) (int, error) {
	for {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			return 0, fmt.Errorf("the sources of %s: %w", stream, err)
		}
		si := s.CachedInfo()
		if hasRaftGroup(si) {
			return 0, nil // a new leader sets its sources up afresh: WatchSources
		}
		quiet, neverHeard := unheardSources(si.Sources)
		if len(quiet) == 0 {
			return 0, nil
		}
		if neverHeard && time.Now().Before(settled) {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(sourcePoll):
			}
			continue
		}
		full := si.Config
		without := full
		without.Sources = slices.DeleteFunc(slices.Clone(full.Sources), func(s *jetstream.StreamSource) bool {
			return slices.Contains(quiet, s.Name)
		})
		if len(without.Sources) == 0 {
			c.log.Warn("aggregate whose every source is unheard: left to the server's own retries", "stream", stream)
			return 0, nil
		}
		if _, err := c.js.UpdateStream(ctx, without); err != nil {
			return 0, fmt.Errorf("setting the sources of %s up again: %w", stream, err)
		}
		if _, err := c.js.UpdateStream(ctx, full); err != nil {
			return 0, fmt.Errorf("setting the sources of %s up again: %d of them are dropped until the accounts are set up again: %w",
				stream, len(quiet), err)
		}
		c.log.Warn("aggregate with sources unheard after the server started: set up again", "stream", stream, "sources", len(quiet))
		return len(quiet), nil
	}
}

// hasRaftGroup reports whether si's stream has replicas to step down to.
func hasRaftGroup(si *jetstream.StreamInfo) bool {
	return si.Cluster != nil && si.Config.Replicas > 1
}

// unheardSources names the sources never heard from, quiet for
// sourceHeardWithin, or failed; neverHeard if one of them was never heard
// from and has no error (its set-up may still be answered).
func unheardSources(sources []*jetstream.StreamSourceInfo) (names []string, neverHeard bool) {
	for _, src := range sources {
		if src == nil {
			continue
		}
		switch {
		case src.Error != nil || src.Active >= sourceHeardWithin:
		case src.Active < 0:
			neverHeard = true
		default:
			continue
		}
		names = append(names, src.Name)
	}
	return names, neverHeard
}
