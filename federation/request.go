package federation

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// serveQueue is the queue group of every Serve subscription, so that when
// several replicas of a node serve the same topic only one answers.
const serveQueue = "hcfed"

// Request sends data to whoever serves topic t and returns the first
// reply, or an error when ctx ends first. Replies over MaxStateLen are
// refused. It goes on the services' connection: any member that may
// subscribe to t learns its reply inbox and can answer (once, under the
// shipped configuration's allow_responses, which lets a province
// subscribe only to what is addressed to it).
func (c *Conn) Request(ctx context.Context, t Topic, data []byte) ([]byte, error) {
	subject, err := t.Subject(c.fed)
	if err != nil {
		return nil, err
	}
	if len(data) > c.maxState {
		return nil, fmt.Errorf("%w: request to %s is %d bytes, limit %d", ErrTooLarge, t, len(data), c.maxState)
	}
	msg, err := c.svc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", t, err)
	}
	if len(msg.Data) > c.maxState {
		return nil, fmt.Errorf("%w: reply from %s is %d bytes, limit %d", ErrTooLarge, t, len(msg.Data), c.maxState)
	}
	return msg.Data, nil
}

// Serve answers requests on topic t with handler, one at a time, until
// ctx is cancelled or c is closed. A nil reply sends nothing. Requests
// over MaxStateLen, or beyond what the subscription holds while handler
// is busy (services.go), are dropped and counted; a handler panic is
// recovered and counted. A connection that speaks for a province may only
// serve its own topics.
func (c *Conn) Serve(ctx context.Context, t Topic, handler func(req []byte) []byte) error {
	subject, err := t.Subject(c.fed)
	if err != nil {
		return err
	}
	if err := c.mayPublish(t); err != nil {
		return err
	}
	sub, err := c.subscribeService(ctx, serviceServe, subject, func(m *nats.Msg) {
		if len(m.Data) > c.maxState {
			c.stats.requestsOversized.Add(1)
			return
		}
		var reply []byte
		if err := safely(func() error { reply = handler(m.Data); return nil }); err != nil {
			c.stats.handlerErrors.Add(1)
			c.log.Error("request handler failed", "topic", t.String(), "err", err)
			return
		}
		if reply != nil && m.Reply != "" {
			if err := m.Respond(reply); err != nil {
				c.log.Warn("reply not sent", "topic", t.String(), "err", err)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("serve %s: %w", t, err)
	}
	c.run(ctx, func(ctx context.Context) {
		<-ctx.Done()
		c.stopService(sub)
	})
	return nil
}

// flush waits until the server has processed everything sent so far on
// the services' connection, so that a subscription is in place when Serve
// returns.
func (c *Conn) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	return c.svc.FlushWithContext(ctx)
}
