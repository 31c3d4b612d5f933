package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RevocationMsg is one revocation delta as read from the stream.
type RevocationMsg struct {
	// Province is the province named by the subject: the one whose
	// permissions allowed the publish, not yet a verified signer.
	Province string
	// StreamSeq is the message's sequence in the stream; persist the last
	// one applied and resume from StreamSeq+1.
	StreamSeq uint64
	// MsgID is the publisher's Nats-Msg-Id, "<province>-<seq>-<hash>"
	// (see revocationMsgID).
	MsgID string
	// Published is when the server stored the message.
	Published time.Time
	// StreamCreated is when the stream holding the message was created:
	// StreamSeq counts within that stream only. A stream deleted and
	// created again numbers its messages afresh, so a position saved in
	// the old stream means nothing in the new one.
	StreamCreated time.Time
	// Pending is how many messages of the stream follow this one; zero
	// means the consumer has caught up.
	Pending uint64
	// Data is the raw revocation statement; nil if Dropped.
	Data []byte
	// Dropped reports a message the Conn refused before any handler
	// could read it (over MaxRevocationLen, or a subject naming no valid
	// province; counted in Stats): it carries no Data, and is handed on
	// only so that the handler knows the stream went past it. Without it,
	// a handler waiting to reach the stream's end never would if the
	// last message was dropped.
	Dropped bool
}

// Pull settings of the revocation consumer.
const (
	// consumerMaxBytes bounds what a revocation consumer buffers, whatever
	// the size of its messages. (A bound in messages, 64 at first, made
	// nats.go's ordered consumer stall for two heartbeats now and then
	// while a burst was being published: ~10 s under the race detector.)
	consumerMaxBytes = 8 << 20
	// consumerHeartbeat is how often an idle consumer hears from the
	// server; after two missed, nats.go recreates the consumer, so this
	// bounds any stall. consumerExpiry is the life of one pull request.
	consumerHeartbeat = 2 * time.Second
	// streamCheckEvery is how often a running consumer or state watcher
	// checks that its stream was not created again (watchBirth).
	streamCheckEvery = 5 * time.Second
	consumerExpiry   = 10 * time.Second
)

// revocationMsgID is the dedupe id of a province's revocation statement:
// its province, its seq and a hash of its exact bytes. Anyone who reaches
// NATS can publish with any Nats-Msg-Id, and JetStream acknowledges a
// later message with an id it holds as a duplicate, without storing it.
// With "<province>-<seq>" alone, a client publishing first with the next
// id made the real revocation look stored. The hash cannot be claimed
// before the signed statement exists (its signature is fresh each time
// it is signed), and a duplicate ack is still checked against the stream.
func revocationMsgID(province string, seq uint64, raw []byte) string {
	sum := sha256.Sum256(raw)
	return province + "-" + strconv.FormatUint(seq, 10) + "-" + hex.EncodeToString(sum[:msgIDHashLen])
}

// msgIDHashLen is how many bytes of SHA-256 a message id carries: 128
// bits, beyond guessing.
const msgIDHashLen = 16

// PublishRevocation publishes raw, the province's revocation statement
// number seq, to the revocation stream and returns once the stream holds
// it: only then may an outbox mark it published. The same bytes published
// again within the stream's duplicate window are acknowledged without a
// second copy; a duplicate ack counts only if the message the stream
// holds at the acknowledged sequence is raw (else ErrNotStored: sign
// again, which gives another id). A connection that speaks for a
// province may only publish that province's revocations.
//
// Errors: ErrTooLarge when raw is over MaxRevocationLen, the server's
// max_payload or the stream's max message size (publishing it again can
// never succeed); ErrStreamMissing when no stream answers (EnsureStreams
// recreates it); ErrPermissionDenied; ErrNotStored.
func (c *Conn) PublishRevocation(ctx context.Context, province string, seq uint64, raw []byte) error {
	t := Topic{Kind: KindRevocations, Province: province}
	subject, err := t.Subject(c.fed)
	if err != nil {
		return err
	}
	if err := c.mayPublish(t); err != nil {
		return err
	}
	id := revocationMsgID(province, seq, raw)
	if len(raw) > c.maxRev {
		return fmt.Errorf("%w: revocation %s is %d bytes, limit %d", ErrTooLarge, id, len(raw), c.maxRev)
	}
	getSubject := "$JS.API.STREAM.MSG.GET." + c.writeStream()
	ctx, done := c.guard(ctx, func(s string) bool { return s == subject || s == getSubject })
	defer done()
	ack, err := c.js.Publish(ctx, subject, raw, jetstream.WithMsgID(id), jetstream.WithExpectStream(c.writeStream()))
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum):
		err = fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, jetstream.ErrStreamNotFound):
		err = fmt.Errorf("%w: %w", ErrStreamMissing, err)
	}
	if err = explain(ctx, err); err != nil {
		return fmt.Errorf("publish revocation %s: %w", id, err)
	}
	if ack.Duplicate {
		if err := c.checkStored(ctx, ack.Sequence, raw); err != nil {
			return fmt.Errorf("publish revocation %s: %w", id, explain(ctx, err))
		}
		c.log.Debug("revocation already in stream", "msg_id", id, "stream_seq", ack.Sequence)
	}
	return nil
}

// checkStored makes sure the revocation stream holds raw at stream
// sequence seq.
func (c *Conn) checkStored(ctx context.Context, seq uint64, raw []byte) error {
	st, err := c.js.Stream(ctx, c.writeStream())
	if err != nil {
		return fmt.Errorf("%w: duplicate ack not checked: %w", ErrNotStored, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("%w: duplicate ack for stream seq %d not checked: %w", ErrNotStored, seq, err)
	}
	if !bytes.Equal(m.Data, raw) {
		c.log.Warn("revocation acknowledged as a duplicate of another message: not published", "stream_seq", seq)
		return fmt.Errorf("%w: stream seq %d holds another message under this id", ErrNotStored, seq)
	}
	return nil
}

// ConsumeRevocations calls handler with every message of the revocation
// stream, in stream order, starting at stream sequence from (0 or 1: from
// the beginning), until ctx is cancelled or c is closed. It returns once
// the consumer exists; consumption goes on in a goroutine owned by c.
//
// A node resumes after a restart by passing the last StreamSeq it applied
// plus one. Messages older than the stream's max age are gone: if the
// first message delivered is later than from, the node has missed deltas
// and needs a snapshot. The verifying layer also sees every province's own
// seq and asks for a snapshot when it finds a gap.
//
// Messages over MaxRevocationLen, or whose subject names no valid
// province, are dropped and counted, and handed on without their data
// (RevocationMsg.Dropped) only to mark the stream position. A handler
// error or panic is logged and counted and the message is not delivered
// again: the stream is not stopped by one bad message. handler is never
// called concurrently.
//
// A stream deleted and created again starts its sequences afresh: the
// consumer then reads the new stream from its start.
func (c *Conn) ConsumeRevocations(ctx context.Context, from uint64, handler func(RevocationMsg) error) error {
	return c.consumeRevocations(ctx, from, time.Time{}, handler)
}

// consumeRevocations is ConsumeRevocations from position from of the
// stream created at born: if the stream is found created since, it is
// read from its start. A zero born is the stream's creation as read now.
func (c *Conn) consumeRevocations(ctx context.Context, from uint64, born time.Time, handler func(RevocationMsg) error) error {
	created, err := c.revocationStreamCreated(ctx)
	if err != nil {
		return err
	}
	if !born.IsZero() && !created.Equal(born) {
		c.log.Warn("revocation stream was created again; reading it from its start", "was_at", from)
		from = 1
	}
	born = created
	it, err := c.openRevocations(ctx, from)
	if err != nil {
		return err
	}
	c.run(ctx, func(ctx context.Context) {
		c.consume(ctx, it, from, born, handler)
	})
	return nil
}

// revocationStreamCreated is when the revocation stream was created.
func (c *Conn) revocationStreamCreated(ctx context.Context) (time.Time, error) {
	created, err := c.streamCreated(ctx, c.stream)
	if err != nil {
		return time.Time{}, fmt.Errorf("revocation stream %s: %w", c.stream, err)
	}
	return created, nil
}

// streamCreated is when the stream named name was created.
func (c *Conn) streamCreated(ctx context.Context, name string) (time.Time, error) {
	s, err := c.js.Stream(ctx, name)
	if err != nil {
		return time.Time{}, err
	}
	return s.CachedInfo().Created, nil
}

// openRevocations creates an ordered consumer starting at stream
// sequence from.
//
// nats.go recreates an ordered consumer that fails, by default forever
// and holding a lock that its Stop needs: once the stream was deleted, a
// consumer could then neither deliver nor be stopped, and Close hung. One
// attempt per failure (MaxResetAttempts) hands the failure back to
// consume, which retries with its own backoff and stops with ctx.
func (c *Conn) openRevocations(ctx context.Context, from uint64) (jetstream.MessagesContext, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, MaxResetAttempts: 1}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := c.js.OrderedConsumer(ctx, c.stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("revocation consumer on %s: %w", c.stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(c.pullBytes),
		jetstream.PullHeartbeat(consumerHeartbeat), jetstream.PullExpiry(consumerExpiry))
	if err != nil {
		return nil, fmt.Errorf("revocation consumer on %s: %w", c.stream, err)
	}
	return it, nil
}

// consume delivers messages until ctx is done, reopening the consumer
// after the last delivered sequence if it fails while c is still open,
// or at the start of the stream if it was created again since born.
func (c *Conn) consume(ctx context.Context, it jetstream.MessagesContext, from uint64, born time.Time, handler func(RevocationMsg) error) {
	next := max(from, 1)
	for attempt := 0; ; attempt++ {
		if it != nil {
			if c.drainConsumer(ctx, it, born, &next, handler) {
				attempt = 0
			}
		}
		if ctx.Err() != nil || c.nc.IsClosed() {
			return
		}
		c.stats.restarts.Add(1)
		if !reconnectBackoff.Sleep(ctx, attempt) {
			return
		}
		created, err := c.revocationStreamCreated(ctx)
		if err != nil {
			c.log.Warn("revocation consumer restart failed", "from", next, "err", err)
			it = nil
			continue
		}
		if !created.Equal(born) {
			c.log.Warn("revocation stream was created again; reading it from its start", "was_at", next)
			born, next = created, 1
		}
		if it, err = c.openRevocations(ctx, next); err != nil {
			c.log.Warn("revocation consumer restart failed", "from", next, "err", err)
			it = nil
		}
	}
}

// drainConsumer hands it's messages to handler until ctx is done or it
// fails, advancing next past each message, and reports whether it
// delivered anything. It always leaves it stopped.
func (c *Conn) drainConsumer(ctx context.Context, it jetstream.MessagesContext, born time.Time, next *uint64, handler func(RevocationMsg) error) (delivered bool) {
	defer it.Stop()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.watchBirth(wctx, c.stream, born, it.Stop)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("revocation consumer stopped, restarting", "from", *next, "err", err)
			}
			return delivered
		}
		meta, err := msg.Metadata()
		if err != nil {
			c.log.Warn("revocation message without metadata", "err", err)
			continue
		}
		*next = meta.Sequence.Stream + 1
		delivered = true
		c.deliverRevocation(msg, meta, born, handler)
	}
}

// watchBirth calls stop when stream turns out to have been created again
// since born. nats.go resets a failed ordered consumer (a revocation
// consumer, a state watcher) itself, at the next sequence of the old
// stream; if the stream was deleted and created again meanwhile, the new
// stream has nothing there yet and the consumer would wait, with healthy
// heartbeats, until the new stream grew past the old one's end. Stopping
// it hands the choice back to its owner (consume, watch), which reopens
// the new stream from its start. It returns when ctx is done.
func (c *Conn) watchBirth(ctx context.Context, stream string, born time.Time, stop func()) {
	t := time.NewTicker(streamCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			created, err := c.streamCreated(ctx, stream)
			if err == nil && !created.Equal(born) {
				stop()
				return
			}
		}
	}
}

func (c *Conn) deliverRevocation(msg jetstream.Msg, meta *jetstream.MsgMetadata, born time.Time, handler func(RevocationMsg) error) {
	seq := meta.Sequence.Stream
	m := RevocationMsg{StreamSeq: seq, Published: meta.Timestamp, StreamCreated: born, Pending: meta.NumPending, Dropped: true}
	t, err := ParseSubject(c.fed, msg.Subject())
	switch {
	case err != nil || t.Kind != KindRevocations:
		c.stats.revBadSubject.Add(1)
		c.log.Warn("revocation dropped: bad subject", "stream_seq", seq, "subject", msg.Subject())
	case len(msg.Data()) > c.maxRev:
		c.stats.revOversized.Add(1)
		c.log.Warn("revocation dropped: too large", "stream_seq", seq, "province", t.Province, "bytes", len(msg.Data()), "limit", c.maxRev)
	default:
		m.Province, m.MsgID, m.Data, m.Dropped = t.Province, msg.Headers().Get(jetstream.MsgIDHeader), msg.Data(), false
		c.stats.revDelivered.Add(1)
	}
	if err := safely(func() error { return handler(m) }); err != nil {
		c.stats.handlerErrors.Add(1)
		c.log.Error("revocation handler failed", "stream_seq", seq, "province", m.Province, "err", err)
	}
}

// streamBounds are the stream sequences of the first and last messages
// in the revocation stream (first is last+1 when it holds none), and when
// the stream was created: the sequences count in that stream only.
type streamBounds struct {
	first, last uint64
	created     time.Time
}

// revocationBounds reads the revocation stream's bounds, so a consumer
// knows when it has caught up even if nothing is delivered.
func (c *Conn) revocationBounds(ctx context.Context) (streamBounds, error) {
	s, err := c.js.Stream(ctx, c.stream)
	if err != nil {
		return streamBounds{}, fmt.Errorf("revocation stream %s: %w", c.stream, err)
	}
	info := s.CachedInfo()
	return streamBounds{first: info.State.FirstSeq, last: info.State.LastSeq, created: info.Created}, nil
}
