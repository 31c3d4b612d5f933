package testkit

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortIsBelowTheEphemeralRangeAndBindable: the port is outside
// the range the kernel hands out to port-0 listeners and outgoing
// connections, and a server can bind it.
func TestFreePortIsBelowTheEphemeralRangeAndBindable(t *testing.T) {
	for range 20 {
		p := FreePort(t)
		if p < freePortMin || p > freePortMax || p >= 32768 {
			t.Fatalf("port %d outside %d-%d", p, freePortMin, freePortMax)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		l.Close()
	}
}
