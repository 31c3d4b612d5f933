package federation

import "sync/atomic"

// Stats counts what a Conn dropped and survived, for metrics. Every field
// only ever grows.
type Stats struct {
	// StateDelivered counts state values handed to watch handlers.
	StateDelivered uint64
	// StateOversized counts state values dropped for exceeding MaxStateLen.
	StateOversized uint64
	// StateBadKey counts state values dropped because their key is not a
	// federation key (see ParseKey).
	StateBadKey uint64
	// RevocationsDelivered counts revocation messages handed to handlers.
	RevocationsDelivered uint64
	// RevocationsOversized counts revocation messages dropped for
	// exceeding MaxRevocationLen.
	RevocationsOversized uint64
	// RevocationsBadSubject counts revocation messages dropped because
	// their subject names no valid province.
	RevocationsBadSubject uint64
	// RequestsOversized counts requests to Serve dropped for exceeding
	// MaxStateLen.
	RequestsOversized uint64
	// HandlerErrors counts handler calls that returned an error or
	// panicked.
	HandlerErrors uint64
	// Restarts counts watchers and consumers restarted after a failure or
	// a reconnection.
	Restarts uint64
	// PermissionDenied counts operations the server refused.
	PermissionDenied uint64
	// Disconnects and Reconnects count connection losses and recoveries.
	Disconnects, Reconnects uint64
}

// Dropped is the number of messages dropped before reaching a handler.
func (s Stats) Dropped() uint64 {
	return s.StateOversized + s.StateBadKey + s.RevocationsOversized +
		s.RevocationsBadSubject + s.RequestsOversized
}

type counters struct {
	stateDelivered, stateOversized, stateBadKey atomic.Uint64
	revDelivered, revOversized, revBadSubject   atomic.Uint64
	requestsOversized, handlerErrors, restarts  atomic.Uint64
	permissionDenied, disconnects, reconnects   atomic.Uint64
}

// Stats returns a snapshot of c's counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		StateDelivered:        s.stateDelivered.Load(),
		StateOversized:        s.stateOversized.Load(),
		StateBadKey:           s.stateBadKey.Load(),
		RevocationsDelivered:  s.revDelivered.Load(),
		RevocationsOversized:  s.revOversized.Load(),
		RevocationsBadSubject: s.revBadSubject.Load(),
		RequestsOversized:     s.requestsOversized.Load(),
		HandlerErrors:         s.handlerErrors.Load(),
		Restarts:              s.restarts.Load(),
		PermissionDenied:      s.permissionDenied.Load(),
		Disconnects:           s.disconnects.Load(),
		Reconnects:            s.reconnects.Load(),
	}
}

// Dropped is the number of messages c dropped before reaching a handler.
func (c *Conn) Dropped() uint64 { return c.Stats().Dropped() }
