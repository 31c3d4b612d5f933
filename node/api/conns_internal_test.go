package api

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAConnectionClosedAtTheCapNoLongerHoldsItsPlace: at a cap of 2, a
// second connection closes the first, which is idle. The first's
// StateClosed comes later, from its own goroutine; the second going idle
// before it must not find the cap still reached and close itself.
func TestAConnectionClosedAtTheCapNoLongerHoldsItsPlace(t *testing.T) {
	cs := &conns{max: 2}
	first, firstPeer := net.Pipe()
	second, secondPeer := net.Pipe()
	t.Cleanup(func() {
		for _, c := range []net.Conn{first, firstPeer, second, secondPeer} {
			c.Close()
		}
	})

	cs.state(first, http.StateNew)
	cs.state(first, http.StateActive)
	cs.state(first, http.StateIdle)
	cs.state(second, http.StateNew)
	if !closedPipe(firstPeer) {
		t.Fatal("the first connection, idle, was not closed when the second reached the cap")
	}
	cs.state(second, http.StateActive)
	cs.state(second, http.StateIdle) // before the first's StateClosed
	if closedPipe(secondPeer) {
		t.Fatal("the second connection closed itself on going idle, with the first's place already free")
	}
	cs.state(first, http.StateClosed)
	if cs.n != 1 || len(cs.idle) != 1 || cs.atCap() {
		t.Fatalf("open %d, idle %d, at cap %v; want 1, 1, false", cs.n, len(cs.idle), cs.atCap())
	}
}

// closedPipe reports whether the other end of peer's pipe was closed.
func closedPipe(peer net.Conn) bool {
	peer.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := peer.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
