package federation

import (
	"context"
	"errors"
	"fmt"
	"regexp"

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
	if errors.Is(err, nats.ErrPermissionViolation) {
		c.stats.permissionDenied.Add(1)
		if m := pubDenied.FindStringSubmatch(err.Error()); m != nil {
			c.log.Warn("nats publish refused by permissions", "subject", m[1])
			cause := fmt.Errorf("%w: %w", ErrPermissionDenied, err)
			c.deniedMu.Lock()
			for w := range c.denied {
				if w.match(m[1]) {
					w.cancel(cause)
				}
			}
			c.deniedMu.Unlock()
			return
		}
	}
	if sub != nil {
		c.log.Warn("nats async error", "subject", sub.Subject, "err", err)
		return
	}
	c.log.Warn("nats async error", "err", err)
}
