package federation

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"
)

// A publish the server's permissions refuse is not answered: the server
// sends an asynchronous -ERR and drops the message, so a JetStream publish
// would wait for its ack until it timed out. To fail fast with a clear
// error instead, an operation that publishes registers a denialWaiter for
// its subject, and the connection's async error handler cancels the
// operation's context when the server reports that subject.

// pubDenied extracts the subject from nats-server's publish violation,
// `Permissions Violation for Publish to "<subject>"`.
var pubDenied = regexp.MustCompile(`Publish to "([^"]+)"`)

// subDenied extracts the subject from a subscription violation,
// `Permissions Violation for Subscription to "<subject>"`.
var subDenied = regexp.MustCompile(`Subscription to "([^"]+)"`)

type denialWaiter struct {
	match  func(subject string) bool
	cancel context.CancelCauseFunc
}

// guard returns a context that is cancelled with an ErrPermissionDenied
// cause if the server refuses a publish to a subject that match accepts.
// Call done when the operation is over.
func (c *Conn) guard(ctx context.Context, match func(string) bool) (_ context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &denialWaiter{match: match, cancel: cancel}
	c.deniedMu.Lock()
	c.denied[w] = struct{}{}
	c.deniedMu.Unlock()
	return ctx, func() {
		c.deniedMu.Lock()
		delete(c.denied, w)
		c.deniedMu.Unlock()
		cancel(nil)
	}
}

// explain replaces err by the permission error that caused it, if any.
func explain(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrPermissionDenied) {
		return cause
	}
	return err
}

// exactly matches one subject.
func exactly(subject string) func(string) bool {
	return func(s string) bool { return s == subject }
}

// asyncError handles errors the server reports outside any request.
func (c *Conn) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && sub != nil && c.serviceOverflow(sub) {
		return
	}
	if errors.Is(err, nats.ErrPermissionViolation) {
		c.stats.permissionDenied.Add(1)
		if m := pubDenied.FindStringSubmatch(err.Error()); m != nil {
			c.log.Warn("nats publish refused by permissions", "subject", m[1])
			c.deny(err, func(w *denialWaiter) bool { return w.match(m[1]) })
			return
		}
		// Without its reply inbox no request of this connection can be
		// answered: every waiting operation fails now rather than at its
		// timeout.
		if m := subDenied.FindStringSubmatch(err.Error()); m != nil && c.inbox != "" && strings.HasPrefix(m[1], c.inbox+".") {
			if strings.HasPrefix(m[1], c.inbox+"."+inboxProbe+".") {
				return // Connect's own probe, which it reports (probeInbox)
			}
			c.log.Error("nats refused this connection's reply inbox: its user may not receive replies there "+
				"(its credentials are likely another province's)", "subject", m[1])
			c.deny(err, func(*denialWaiter) bool { return true })
			return
		}
	}
	if IsAuthError(err) {
		c.log.Error("nats server refused this connection's credentials", "err", err)
		return
	}
	if sub != nil {
		c.log.Warn("nats async error", "subject", sub.Subject, "err", err)
		return
	}
	c.log.Warn("nats async error", "err", err)
}

// deny cancels, with an ErrPermissionDenied cause wrapping err, every
// waiting operation that hit accepts.
func (c *Conn) deny(err error, hit func(*denialWaiter) bool) {
	cause := fmt.Errorf("%w: %w", ErrPermissionDenied, err)
	c.deniedMu.Lock()
	defer c.deniedMu.Unlock()
	for w := range c.denied {
		if hit(w) {
			w.cancel(cause)
		}
	}
}
