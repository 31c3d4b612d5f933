package federation

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Service subscriptions (Serve, ServeLookups, ServeReceipts,
// ServeSnapshotRequests) take requests anyone in the federation may send.
// nats.go reads every message off the socket at once and holds what a
// subscription's handler has not taken yet, by default up to 500,000
// messages or 64 MB per subscription; the handler then works through all
// of it, one at a time, long after the askers gave up, while a genuine
// request waits behind the backlog. Each service subscription holds at
// most servicePendingMsgs and servicePendingBytes instead: beyond them
// nats.go drops the request (its asker times out), counted per service
// (Stats.RequestsDropped) and logged at most once per serviceDropLogEvery,
// while the connection and its other subscriptions go on. Lookups and
// receipts, which name their sender, are moreover held in a queue per
// sender (senderqueues.go), so that one member's flood drops only its
// own; snapshot requests are acknowledged as they come, and Serve's
// topics name no sender.
//
// This bounds the node's memory and the backlog, not what the server
// sends: a flood faster than the link between the server and the node
// still fills the server's max_pending for the connection
// (ServerMaxPending) and the server cuts it, whatever the client drops
// once the bytes have arrived. Nothing on the client can keep such a
// flood off the link; a node gives its services a connection of their own
// (ConnConfig.ServicesConn), so that the cut takes the services (which
// nats.go subscribes again once it reconnects) and not the sync.
const (
	// servicePendingMsgs is how many requests one service subscription
	// holds while its handler is busy (for lookups and receipts, all
	// their senders' queues together): a request of each of the
	// federation's 35 provinces at once, and some more.
	servicePendingMsgs = 128
	// servicePendingBytes bounds the bytes those requests hold: 32
	// receipts of the largest size (trust.MaxReceiptLen), 256 lookups.
	// Four services hold at most 16 MB, where nats.go's default let
	// each hold 64 (24 MB if the senders' queues of lookups and receipts
	// are full and a flood outruns their sorting too).
	servicePendingBytes = 4 << 20
	// serviceDropLogEvery is the least time between two log lines about
	// one service's drops: nats.go reports a slow consumer each time its
	// queue fills again, which a flood makes many times a second.
	serviceDropLogEvery = time.Minute
)

// service names a kind of service subscription, for the drop counters.
type service int

const (
	serviceServe service = iota
	serviceLookups
	serviceReceipts
	serviceSnapshotRequests
	numServices
)

var serviceNames = [numServices]string{"serve", "lookups", "receipts", "snapshot_requests"}

func (v service) String() string { return serviceNames[v] }

// ServiceDrops counts, per service, the requests dropped unread because
// the service's subscription already held as many as it may while its
// handler was busy (a flood, or a handler too slow): lookups, receipts
// and erasures, snapshot requests, and Serve's topics.
type ServiceDrops struct {
	Lookups, Receipts, SnapshotRequests, Serve uint64
}

// Total is the sum over every service.
func (d ServiceDrops) Total() uint64 {
	return d.Lookups + d.Receipts + d.SnapshotRequests + d.Serve
}

// serviceSubs tracks the connection's service subscriptions and what
// nats.go dropped on each, and what their senders' queues dropped
// (senderqueues.go).
type serviceSubs struct {
	mu      sync.Mutex
	live    map[*nats.Subscription]*serviceSub
	retired [numServices]uint64 // drops of subscriptions since stopped
	queued  [numServices]uint64 // drops of the senders' queues
	// logged is when a drop of each service was last logged, by where
	// it was dropped: a flood that outruns the sorting of requests by
	// sender fills nats.go's queue first, and its line, which cannot
	// name the sender, must not keep the senders' queues' line, which
	// names it, from being logged.
	logged [numDropSites][numServices]time.Time
}

// Where a service's request was dropped, each logged on its own.
const (
	dropSubscription = iota // nats.go's queue of the subscription
	dropSenderQueue         // its sender's queue (senderqueues.go)
	numDropSites
)

type serviceSub struct {
	svc  service
	seen uint64 // nats.go's drop count as last read: kept once it closes
}

func (s *serviceSubs) add(sub *nats.Subscription, svc service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = map[*nats.Subscription]*serviceSub{}
	}
	s.live[sub] = &serviceSub{svc: svc}
}

// read updates e from sub. nats.go only answers while sub is open: what
// was read last stands once it is closed, so the counters never go back.
// Callers hold s.mu.
func (e *serviceSub) read(sub *nats.Subscription) uint64 {
	if n, err := sub.Dropped(); err == nil && uint64(n) > e.seen {
		e.seen = uint64(n)
	}
	return e.seen
}

// retire stops tracking sub, keeping its drops in its service's count.
func (s *serviceSubs) retire(sub *nats.Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.live[sub]; e != nil {
		s.retired[e.svc] += e.read(sub)
		delete(s.live, sub)
	}
}

// dropped counts the drops of every service so far.
func (s *serviceSubs) dropped() [numServices]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.retired
	for i, n := range s.queued {
		out[i] += n
	}
	for sub, e := range s.live {
		out[e.svc] += e.read(sub)
	}
	return out
}

// due reports whether a log line about svc's drops at site is due at
// now, and takes it if so. Callers hold s.mu.
func (s *serviceSubs) due(site int, svc service, now time.Time) bool {
	if last := s.logged[site][svc]; !last.IsZero() && now.Sub(last) < serviceDropLogEvery {
		return false
	}
	s.logged[site][svc] = now
	return true
}

// queueDropped counts n requests of svc dropped by its senders' queues,
// and reports whether a log line about it is due at now (and takes it).
func (s *serviceSubs) queueDropped(svc service, n int, now time.Time) (logIt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued[svc] += uint64(n)
	return s.due(dropSenderQueue, svc, now)
}

// overflowed reports whether sub is a service subscription and, if so,
// which, and whether a log line about it is due at now (and takes it).
func (s *serviceSubs) overflowed(sub *nats.Subscription, now time.Time) (svc service, ok, logIt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live[sub]
	if e == nil {
		return 0, false, false
	}
	return e.svc, true, s.due(dropSubscription, e.svc, now)
}

// serviceDrops is Stats.RequestsDropped.
func (c *Conn) serviceDrops() ServiceDrops {
	d := c.services.dropped()
	return ServiceDrops{Lookups: d[serviceLookups], Receipts: d[serviceReceipts],
		SnapshotRequests: d[serviceSnapshotRequests], Serve: d[serviceServe]}
}

// subscribeService subscribes handle to subject in the queue group of
// every service, on the services' connection, holding at most
// servicePendingMsgs and servicePendingBytes unread, and waits until the
// server has the subscription. Stop it with stopService.
func (c *Conn) subscribeService(ctx context.Context, svc service, subject string, handle nats.MsgHandler) (*nats.Subscription, error) {
	sub, err := c.svc.QueueSubscribe(subject, serveQueue, handle)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(servicePendingMsgs, servicePendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	c.services.add(sub, svc)
	if err := c.flush(ctx); err != nil {
		c.services.retire(sub)
		_ = sub.Unsubscribe()
		return nil, err
	}
	return sub, nil
}

// stopService drains sub, a subscription of subscribeService, keeping
// its drops counted.
func (c *Conn) stopService(sub *nats.Subscription) {
	c.services.retire(sub)
	_ = sub.Drain()
}

// serviceOverflow logs, at most once per serviceDropLogEvery per service
// (apart from the senders' queues' line, senderDropped), that sub (if a service subscription) dropped requests, and reports
// whether sub was one. nats.go calls the error handler with
// ErrSlowConsumer when a subscription's queue fills, and again each time
// it fills anew.
func (c *Conn) serviceOverflow(sub *nats.Subscription) bool {
	svc, ok, logIt := c.services.overflowed(sub, time.Now())
	if logIt {
		c.log.Warn("requests dropped: this service's queue is full (a flood, or a slow handler); the askers time out",
			"service", svc.String(), "subject", sub.Subject, "dropped_total", c.services.dropped()[svc],
			"queue_limit", servicePendingMsgs)
	}
	return ok
}

// senderDropped counts n requests of svc dropped by its senders' queues,
// the last of them from province from, and logs it at most once per
// serviceDropLogEvery per service, apart from serviceOverflow's line. A province
// code is no personal data; the metric has no label of it, so that its
// cardinality stays that of the services.
func (c *Conn) senderDropped(svc service, from string, n int) {
	if c.services.queueDropped(svc, n, time.Now()) {
		c.log.Warn("requests dropped: the sender's queue is full (a flood from it, or a slow handler); its askers time out",
			"service", svc.String(), "from", from, "dropped_total", c.services.dropped()[svc],
			"sender_queue_limit", senderPendingMsgs)
	}
}
