package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Keeping an account's copies flowing (accounts mode, docs/design-changes.md,
// "NATS cluster"). The server fills each aggregate by sourcing from every
// member's own stream. When a server of a cluster dies, a source whose
// consumer lived there goes quiet; the aggregate's leader notices at its
// next health check (every 10 s) and sets the source up again, but if that
// fails during the Raft election it retries with a backoff that grows by
// 10 s a failure up to 2 minutes (nats-server's retryMaximum), and a
// consumer-create request nobody answers is only given up after 30 s. A
// new leader of the aggregate starts every source afresh, with no backoff.
// So a node watches its own account's aggregates and asks one whose source
// has been quiet for SourceStallAfter to step down.

// Defaults of SourceWatch.
const (
	// DefaultSourceCheckEvery is how often the aggregates' source info
	// is read (two stream-info requests).
	DefaultSourceCheckEvery = 2 * time.Second
	// DefaultSourceStallAfter is how long a source may go without
	// activity before its aggregate is asked to step down. A healthy
	// source hears a heartbeat every second; the server itself notices
	// a quiet source after 10 to 20 s and then sets it up again, which
	// succeeds at once unless the origin is still electing a leader.
	DefaultSourceStallAfter = 15 * time.Second
	// DefaultSourceStepdownGap is the least time between two stepdowns
	// of the same aggregate.
	DefaultSourceStepdownGap = time.Minute
	// sourceInfoTimeout bounds one stream-info or stepdown request.
	sourceInfoTimeout = 2 * time.Second
)

// SourceWatch configures Conn.WatchSources; zero values take the defaults.
type SourceWatch struct {
	Every       time.Duration // how often to read the source info; DefaultSourceCheckEvery
	StallAfter  time.Duration // quiet this long is stalled; DefaultSourceStallAfter
	StepdownGap time.Duration // between two stepdowns of one aggregate; DefaultSourceStepdownGap
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// StalledSource is one quiet source of an aggregate, as WatchSources saw
// it before asking for a stepdown.
type StalledSource struct {
	Stream string        // the aggregate, in this connection's account
	Source string        // the member's own stream it copies
	Quiet  time.Duration // since the aggregate last heard from it
	Error  string        // what the server reported, if anything
}

// sourceWatcher is the state of one WatchSources.
type sourceWatcher struct {
	c         *Conn
	cfg       SourceWatch
	quietFrom map[string]time.Time // stream/source never heard from: since when we see it so
	lastDown  map[string]time.Time // stream: last stepdown asked for
}

func newSourceWatcher(c *Conn, cfg SourceWatch) *sourceWatcher {
	return &sourceWatcher{c: c, cfg: cfg, quietFrom: map[string]time.Time{}, lastDown: map[string]time.Time{}}
}

// WatchSources keeps this account's aggregates (the state bucket and
// revocation stream a node reads) flowing in accounts mode until ctx
// ends: every cfg.Every it reads their source info, and an aggregate with
// a source quiet for cfg.StallAfter is asked to step down
// ($JS.API.STREAM.LEADER.STEPDOWN, which only a node's user may ask of
// its own account's aggregates), at most once per cfg.StepdownGap
// whether granted or not. Each request is logged (stream and source
// names only); granted ones are counted in Stats.SourceStepdowns. A single server, or aggregates of one replica,
// have nothing to step down to: it then only reads. It returns at once
// outside accounts mode, and for the operators' connection.
func (c *Conn) WatchSources(ctx context.Context, cfg SourceWatch) {
	if c.iso == nil || c.iso.owner == operatorTag {
		return
	}
	cfg.Every = orDefaultDuration(cfg.Every, DefaultSourceCheckEvery)
	cfg.StallAfter = orDefaultDuration(cfg.StallAfter, DefaultSourceStallAfter)
	cfg.StepdownGap = orDefaultDuration(cfg.StepdownGap, DefaultSourceStepdownGap)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := newSourceWatcher(c, cfg)
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		for _, stream := range []string{c.stream, "KV_" + c.bucket} {
			w.check(ctx, stream)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.life.Done():
			return
		case <-t.C:
		}
	}
}

// check reads one aggregate's sources and asks it to step down if one
// of them is stalled and the last stepdown is old enough.
func (w *sourceWatcher) check(ctx context.Context, stream string) {
	sources, ok := w.sources(ctx, stream)
	if !ok {
		return
	}
	stalled := w.stalled(w.cfg.Now(), stream, sources)
	if len(stalled) == 0 || !w.mayStepDown(w.cfg.Now(), stream) {
		return
	}
	s := stalled[0]
	w.attempted(w.cfg.Now(), stream)
	if err := w.c.StepDownStream(ctx, stream, ""); err != nil {
		msg := "aggregate with a stalled source: stepdown refused; trying again after the stepdown gap"
		if errors.Is(err, ErrPermissionDenied) {
			msg = "aggregate with a stalled source: this node's NATS user may not step it down; regenerate the server configuration (hcnode nats-config) so that it may"
		}
		w.c.log.Warn(msg, "stream", stream, "source", s.Source, "quiet", s.Quiet.Round(time.Second).String(),
			"retry_in", w.cfg.StepdownGap.String(), "err", err)
		return
	}
	w.c.stats.sourceStepdowns.Add(1)
	w.c.log.Warn("aggregate with a stalled source asked to step down: its new leader sets every source up afresh",
		"stream", stream, "source", s.Source, "stalled_sources", len(stalled),
		"quiet", s.Quiet.Round(time.Second).String(), "source_error", s.Error)
}

// sources reads stream's source info; false if it could not be read or
// the stream has no Raft group to step down in (one server, one replica).
func (w *sourceWatcher) sources(ctx context.Context, stream string) ([]*jetstream.StreamSourceInfo, bool) {
	ctx, cancel := context.WithTimeout(ctx, sourceInfoTimeout)
	defer cancel()
	s, err := w.c.js.Stream(ctx, stream)
	if err != nil {
		return nil, false
	}
	si := s.CachedInfo()
	if !hasRaftGroup(si) {
		return nil, false
	}
	return si.Sources, true
}

// stalled are the sources of stream quiet for StallAfter or more at now.
// A source the leader has never heard from (Active -1: a new leader, or a
// set-up still waiting for its answer) is timed from when the watcher
// first saw it so.
func (w *sourceWatcher) stalled(now time.Time, stream string, sources []*jetstream.StreamSourceInfo) []StalledSource {
	var out []StalledSource
	for _, src := range sources {
		if src == nil {
			continue
		}
		key := stream + "/" + src.Name
		quiet := src.Active
		if quiet < 0 {
			since, ok := w.quietFrom[key]
			if !ok {
				since = now
				w.quietFrom[key] = now
			}
			quiet = now.Sub(since)
		} else {
			delete(w.quietFrom, key)
		}
		if quiet < w.cfg.StallAfter {
			continue
		}
		st := StalledSource{Stream: stream, Source: src.Name, Quiet: quiet}
		if src.Error != nil {
			st.Error = src.Error.Error()
		}
		out = append(out, st)
	}
	return out
}

// mayStepDown reports whether StepdownGap has passed since the last
// stepdown asked of stream.
func (w *sourceWatcher) mayStepDown(now time.Time, stream string) bool {
	last, ok := w.lastDown[stream]
	return !ok || now.Sub(last) >= w.cfg.StepdownGap
}

// attempted records a stepdown asked of stream, granted or not (one
// refused while the aggregate elects a leader is moot: the new leader
// sets its sources up afresh): its sources are timed afresh.
func (w *sourceWatcher) attempted(now time.Time, stream string) {
	w.lastDown[stream] = now
	for k := range w.quietFrom {
		if strings.HasPrefix(k, stream+"/") {
			delete(w.quietFrom, k)
		}
	}
}

// stepdownResponse is the server's answer to a stream leader stepdown.
type stepdownResponse struct {
	Success bool `json:"success"`
	Error   *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// ErrStepdown is a stream leader stepdown the server refused.
var ErrStepdown = errors.New("stream leader stepdown refused")

// StepDownStream asks the leader of stream, in this connection's
// account, to hand its leadership to another replica (to the server
// named preferred, if not empty). A node's user may ask it only of its
// account's aggregates (GenerateServerConfig); an admin of any stream of
// its account.
func (c *Conn) StepDownStream(ctx context.Context, stream, preferred string) error {
	var body []byte
	if preferred != "" {
		body, _ = json.Marshal(map[string]any{"placement": map[string]string{"preferred": preferred}})
	}
	ctx, cancel := context.WithTimeout(ctx, sourceInfoTimeout)
	defer cancel()
	subject := stepdownSubject(stream)
	ctx, done := c.guard(ctx, exactly(subject))
	defer done()
	msg, err := c.nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		return explain(ctx, fmt.Errorf("stepdown %s: %w", stream, err))
	}
	var resp stepdownResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("stepdown %s: %w: bad response: %w", stream, ErrStepdown, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("stepdown %s: %w: %s (%d)", stream, ErrStepdown, resp.Error.Description, resp.Error.ErrCode)
	}
	if !resp.Success {
		return fmt.Errorf("stepdown %s: %w: no success reported", stream, ErrStepdown)
	}
	return nil
}

// stepdownSubject is the JetStream API subject of a stream leader
// stepdown.
func stepdownSubject(stream string) string { return "$JS.API.STREAM.LEADER.STEPDOWN." + stream }
