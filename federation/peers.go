package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/hcfed/hcfed/trust"
)

// Messages from one province's node to another's: identity lookups
// (request/reply), verification receipts (fire and forget) and erasures
// (on the receipts subject, request/reply: the reply acknowledges). Both are
// sent under the sender's own province name, hcfed.<fed>.<from>.<kind>.<to>,
// so per-province publish permissions already allow them and the receiver
// learns the sender from the subject; the payload is sealed to the
// receiving node and signed by the sender, and the receiver checks that
// the signer is the province the subject names. The shipped
// configurations let a member subscribe only to what is addressed to it,
// and answer a request it received once (allow_responses, which gives no
// member a right on another's reply inbox); a server without them lets
// any member read and answer, so the transport gives no confidentiality
// and no authenticity: the sealing and the signatures do.

// ErrNoResponders reports that no node of the province addressed is
// listening. It wraps nats.ErrNoResponders too.
var ErrNoResponders = fmt.Errorf("federation: no node of that province is listening: %w", nats.ErrNoResponders)

// Size limits of province-to-province messages.
const (
	maxLookupLen  = trust.MaxLookupLen
	maxReceiptLen = trust.MaxReceiptLen
)

// RequestLookup sends a sealed lookup request to home's node, under this
// connection's own province name, and returns the first reply that accept
// takes. Replies accept refuses — anyone on the federation can publish to
// the reply inbox — are skipped, so a rogue responder cannot shadow the
// real one; the wait ends with ctx. It returns an error wrapping
// nats.ErrNoResponders when no node of home is listening.
func (c *Conn) RequestLookup(ctx context.Context, home string, req []byte, accept func(reply []byte) error) ([]byte, error) {
	return c.requestPeer(ctx, KindLookup, home, maxLookupLen, req, accept)
}

// RequestErasure sends a sealed erasure to asker's node on the receipts
// subject, as a request, and returns the first reply that accept takes
// (its acknowledgement), as RequestLookup does.
func (c *Conn) RequestErasure(ctx context.Context, asker string, raw []byte, accept func(reply []byte) error) ([]byte, error) {
	return c.requestPeer(ctx, KindReceipts, asker, maxReceiptLen, raw, accept)
}

// requestPeer sends req of kind to peer's node and waits for a reply
// accept takes; see RequestLookup. It goes on the services' connection,
// as the reply inbox is open to every member.
func (c *Conn) requestPeer(ctx context.Context, kind Kind, peer string, maxLen int, req []byte, accept func(reply []byte) error) ([]byte, error) {
	if c.province == "" {
		return nil, fmt.Errorf("%s: the connection speaks for no province", kind)
	}
	t := Topic{Kind: kind, Province: c.province, Peer: peer}
	subject, err := t.Subject(c.fed)
	if err != nil {
		return nil, err
	}
	if len(req) > maxLen {
		return nil, fmt.Errorf("%w: %s request is %d bytes, limit %d", ErrTooLarge, kind, len(req), maxLen)
	}
	inbox := c.svc.NewInbox()
	sub, err := c.svc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, t, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.svc.PublishRequest(subject, inbox, req); err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, t, err)
	}
	var last error
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, nats.ErrNoResponders) {
			err = ErrNoResponders // nats.go reads the server's 503 itself
		}
		if err != nil {
			if last != nil {
				return nil, fmt.Errorf("%s %s: %w (last reply refused: %v)", kind, t, err, last)
			}
			return nil, fmt.Errorf("%s %s: %w", kind, t, err)
		}
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return nil, fmt.Errorf("%s %s: %w", kind, t, ErrNoResponders)
		}
		if len(m.Data) > maxLen {
			c.stats.requestsOversized.Add(1)
			continue
		}
		if last = accept(m.Data); last == nil {
			return m.Data, nil
		}
	}
}

// ServeLookups answers lookup requests addressed to this connection's
// province with handler, which is told the asking province as named by
// the subject; a nil reply sends nothing. Requests are handled one at a
// time, each asking province's in order, the provinces in turn, so that
// one province's flood delays another's requests by no more than one of
// its own each (senderqueues.go). It stops when ctx ends or c is closed.
func (c *Conn) ServeLookups(ctx context.Context, handler func(asker string, req []byte) []byte) error {
	return c.serveFrom(ctx, KindLookup, maxLookupLen, handler)
}

// PublishReceipts sends a sealed receipt to home's node, under this
// connection's own province name. Nothing confirms delivery: a receipt
// sent while home's node is away is lost.
func (c *Conn) PublishReceipts(ctx context.Context, home string, raw []byte) error {
	if c.province == "" {
		return errors.New("receipts: the connection speaks for no province")
	}
	t := Topic{Kind: KindReceipts, Province: c.province, Peer: home}
	subject, err := t.Subject(c.fed)
	if err != nil {
		return err
	}
	if len(raw) > maxReceiptLen {
		return fmt.Errorf("%w: receipt is %d bytes, limit %d", ErrTooLarge, len(raw), maxReceiptLen)
	}
	if err := c.svc.Publish(subject, raw); err != nil {
		return fmt.Errorf("receipts %s: %w", t, err)
	}
	return nil
}

// ServeReceipts passes each receipt (or erasure) addressed to this
// connection's province to handler, with the sending province as named by
// the subject, one at a time, the sending provinces in turn as in
// ServeLookups; a reply handler returns is sent to a message that asks
// for one (an erasure's acknowledgement), and nil sends nothing. It
// stops when ctx ends or c is closed.
func (c *Conn) ServeReceipts(ctx context.Context, handler func(from string, raw []byte) []byte) error {
	return c.serveFrom(ctx, KindReceipts, maxReceiptLen, handler)
}

// serveFrom subscribes to messages of kind addressed to this connection's
// province from any other, in the queue group of Serve, and passes them
// to handler one at a time, each sender in turn (senderqueues.go).
// Messages over maxLen, or on a subject that does not parse, are dropped
// and counted, and so are those beyond what their sender's queue, or the
// subscription, holds while handler is busy (services.go).
func (c *Conn) serveFrom(ctx context.Context, kind Kind, maxLen int, handler func(from string, data []byte) []byte) error {
	if c.province == "" {
		return fmt.Errorf("serve %s: the connection speaks for no province", kind)
	}
	subject := toProvince(c.fed, kind, c.province)
	svc := serviceLookups
	if kind == KindReceipts {
		svc = serviceReceipts
	}
	queues := newSenderQueues(senderPendingMsgs, senderPendingBytes, servicePendingMsgs, servicePendingBytes)
	sub, err := c.subscribeService(ctx, svc, subject, func(m *nats.Msg) {
		t, err := ParseSubject(c.fed, m.Subject)
		if err != nil || t.Kind != kind || t.Peer != c.province || t.Province == c.province || len(m.Data) > maxLen {
			c.stats.requestsOversized.Add(1)
			return
		}
		if n, of := queues.push(t.Province, m); n > 0 {
			c.senderDropped(svc, of, n)
		}
	})
	if err != nil {
		return fmt.Errorf("serve %s: %w", kind, err)
	}
	c.run(ctx, func(ctx context.Context) {
		defer c.stopService(sub)
		queues.serve(ctx, func(from string, m *nats.Msg) {
			var reply []byte
			if err := safely(func() error { reply = handler(from, m.Data); return nil }); err != nil {
				c.stats.handlerErrors.Add(1)
				c.log.Error("handler failed", "kind", string(kind), "from", from, "err", err)
				return
			}
			if reply != nil && m.Reply != "" {
				if err := m.Respond(reply); err != nil {
					c.log.Warn("reply not sent", "kind", string(kind), "to", from, "err", err)
				}
			}
		})
	})
	return nil
}
