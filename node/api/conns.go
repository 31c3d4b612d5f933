package api

import (
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// conns follows the connections of the public listener, which holds at
// most max open at once (limits.max_connections, netutil.LimitListener
// in the daemon): a connection past it waits, unaccepted, until one
// closes. An idle keep-alive connection would hold its place for
// IdleTimeout, and max clients sending a request a minute would keep
// every other one out. So at the cap an idle connection gives way, as a
// server may close one at any time: one going idle then is closed, and
// a new connection reaching the cap closes the connection idle longest.
// A connection in a request is never closed; its time is bounded by the
// server's header, read and write timeouts.
type conns struct {
	max  int              // 0: no cap known, nothing is closed early
	open prometheus.Gauge // nil: not counted

	mu      sync.Mutex
	n       int                 // open, from StateNew to StateClosed
	idle    map[net.Conn]uint64 // idle connection: when it went idle, in a sequence
	seq     uint64
	closing map[net.Conn]bool // closed here, its StateClosed not yet seen
}

// state is the http.Server's ConnState hook.
func (cs *conns) state(c net.Conn, st http.ConnState) {
	var closing net.Conn
	cs.mu.Lock()
	switch st {
	case http.StateNew:
		cs.n++
		if cs.open != nil {
			cs.open.Inc()
		}
		if cs.atCap() {
			closing = cs.oldestIdle()
		}
	case http.StateActive:
		delete(cs.idle, c)
	case http.StateIdle:
		if cs.atCap() {
			closing = c
			cs.markClosing(c)
			break
		}
		if cs.idle == nil {
			cs.idle = map[net.Conn]uint64{}
		}
		cs.seq++
		cs.idle[c] = cs.seq
	case http.StateClosed, http.StateHijacked:
		cs.n--
		delete(cs.idle, c)
		delete(cs.closing, c)
		if cs.open != nil {
			cs.open.Dec()
		}
	}
	cs.mu.Unlock()
	if closing != nil {
		closing.Close() // its StateClosed follows; the listener frees its place
	}
}

// atCap reports whether every place is taken. A connection closed here
// frees its place at once (the listener's Close releases it), though its
// StateClosed comes later from its own goroutine: counting it would make
// a connection going idle then close itself with a place free. Callers
// hold cs.mu.
func (cs *conns) atCap() bool { return cs.max > 0 && cs.n-len(cs.closing) >= cs.max }

// markClosing records that c is being closed here. Callers hold cs.mu.
func (cs *conns) markClosing(c net.Conn) {
	if cs.closing == nil {
		cs.closing = map[net.Conn]bool{}
	}
	cs.closing[c] = true
}

// oldestIdle takes the connection idle longest out of idle, or returns
// nil if none is. Callers hold cs.mu.
func (cs *conns) oldestIdle() net.Conn {
	var oldest net.Conn
	var at uint64
	for c, s := range cs.idle {
		if oldest == nil || s < at {
			oldest, at = c, s
		}
	}
	if oldest != nil {
		delete(cs.idle, oldest)
		cs.markClosing(oldest)
	}
	return oldest
}
