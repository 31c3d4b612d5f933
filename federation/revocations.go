package federation

import (
	"context"
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
	// MsgID is the publisher's Nats-Msg-Id, "<province>-<seq>".
	MsgID string
	// Published is when the server stored the message.
	Published time.Time
	// Pending is how many messages of the stream follow this one; zero
	// means the consumer has caught up.
	Pending uint64
	// Data is the raw revocation statement.
	Data []byte
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
	consumerExpiry    = 10 * time.Second
)

// revocationMsgID is the dedupe id of a province's revocation statement.
func revocationMsgID(province string, seq uint64) string {
	return province + "-" + strconv.FormatUint(seq, 10)
}

// PublishRevocation publishes raw, the province's revocation statement
// number seq, to the revocation stream and returns once JetStream has
// acknowledged it: only then may an outbox mark it published. Publishing
// the same (province, seq) again within the stream's duplicate window is
// acknowledged without storing a second copy, so an outbox can safely
// publish again after a crash. A connection that speaks for a province may
// only publish that province's revocations.
func (c *Conn) PublishRevocation(ctx context.Context, province string, seq uint64, raw []byte) error {
	t := Topic{Kind: KindRevocations, Province: province}
	subject, err := t.Subject(c.fed)
	if err != nil {
		return err
	}
	if err := c.mayPublish(t); err != nil {
		return err
	}
	if len(raw) > c.maxRev {
		return fmt.Errorf("%w: revocation %s is %d bytes, limit %d", ErrTooLarge, revocationMsgID(province, seq), len(raw), c.maxRev)
	}
	ctx, done := c.guard(ctx, exactly(subject))
	defer done()
	id := revocationMsgID(province, seq)
	ack, err := c.js.Publish(ctx, subject, raw, jetstream.WithMsgID(id), jetstream.WithExpectStream(c.stream))
	if errors.Is(err, nats.ErrMaxPayload) {
		err = fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err = explain(ctx, err); err != nil {
		return fmt.Errorf("publish revocation %s: %w", id, err)
	}
	if ack.Duplicate {
		c.log.Debug("revocation already in stream", "msg_id", id, "stream_seq", ack.Sequence)
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
// province, are dropped and counted. A handler error or panic is logged
// and counted and the message is not delivered again: the stream is not
// stopped by one bad message. handler is never called concurrently.
func (c *Conn) ConsumeRevocations(ctx context.Context, from uint64, handler func(RevocationMsg) error) error {
	it, err := c.openRevocations(ctx, from)
	if err != nil {
		return err
	}
	c.run(ctx, func(ctx context.Context) {
		c.consume(ctx, it, from, handler)
	})
	return nil
}

// openRevocations creates an ordered consumer starting at stream
// sequence from.
func (c *Conn) openRevocations(ctx context.Context, from uint64) (jetstream.MessagesContext, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := c.js.OrderedConsumer(ctx, c.stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("revocation consumer on %s: %w", c.stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxBytes(consumerMaxBytes),
		jetstream.PullHeartbeat(consumerHeartbeat), jetstream.PullExpiry(consumerExpiry))
	if err != nil {
		return nil, fmt.Errorf("revocation consumer on %s: %w", c.stream, err)
	}
	return it, nil
}

// consume delivers messages until ctx is done, reopening the consumer
// after the last delivered sequence if it fails while c is still open.
func (c *Conn) consume(ctx context.Context, it jetstream.MessagesContext, from uint64, handler func(RevocationMsg) error) {
	next := max(from, 1)
	for attempt := 0; ; attempt++ {
		if it != nil {
			if c.drainConsumer(ctx, it, &next, handler) {
				attempt = 0
			}
		}
		if ctx.Err() != nil || c.nc.IsClosed() {
			return
		}
		c.stats.restarts.Add(1)
		if !wait(ctx, reconnectDelay(attempt)) {
			return
		}
		var err error
		if it, err = c.openRevocations(ctx, next); err != nil {
			c.log.Warn("revocation consumer restart failed", "from", next, "err", err)
			it = nil
		}
	}
}

// drainConsumer hands it's messages to handler until ctx is done or it
// fails, advancing next past each message, and reports whether it
// delivered anything. It always leaves it stopped.
func (c *Conn) drainConsumer(ctx context.Context, it jetstream.MessagesContext, next *uint64, handler func(RevocationMsg) error) (delivered bool) {
	defer it.Stop()
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
		c.deliverRevocation(msg, meta, handler)
	}
}

func (c *Conn) deliverRevocation(msg jetstream.Msg, meta *jetstream.MsgMetadata, handler func(RevocationMsg) error) {
	seq := meta.Sequence.Stream
	t, err := ParseSubject(c.fed, msg.Subject())
	if err != nil || t.Kind != KindRevocations {
		c.stats.revBadSubject.Add(1)
		c.log.Warn("revocation dropped: bad subject", "stream_seq", seq, "subject", msg.Subject())
		return
	}
	if len(msg.Data()) > c.maxRev {
		c.stats.revOversized.Add(1)
		c.log.Warn("revocation dropped: too large", "stream_seq", seq, "province", t.Province, "bytes", len(msg.Data()), "limit", c.maxRev)
		return
	}
	m := RevocationMsg{
		Province: t.Province, StreamSeq: seq, MsgID: msg.Headers().Get(jetstream.MsgIDHeader),
		Published: meta.Timestamp, Pending: meta.NumPending, Data: msg.Data(),
	}
	c.stats.revDelivered.Add(1)
	if err := safely(func() error { return handler(m) }); err != nil {
		c.stats.handlerErrors.Add(1)
		c.log.Error("revocation handler failed", "stream_seq", seq, "province", t.Province, "err", err)
	}
}

// revocationEnd returns the stream sequence of the last message in the
// revocation stream (0 if it has none), so a consumer knows when it has
// caught up even if nothing is delivered.
func (c *Conn) revocationEnd(ctx context.Context) (uint64, error) {
	s, err := c.js.Stream(ctx, c.stream)
	if err != nil {
		return 0, fmt.Errorf("revocation stream %s: %w", c.stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}
