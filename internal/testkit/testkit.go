// Package testkit holds what the project's tests share: one way to wait
// for a condition with a deadline, instead of sleeping.
package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"
)

// Poll calls cond every interval until it returns nil, and returns nil;
// once timeout has passed it returns cond's last error instead.
func Poll(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still not after %s: %w", timeout, err)
		}
		<-tick.C
	}
}

// WaitFor polls cond every interval until it returns nil, and fails t
// with what and cond's last error if that has not happened within timeout.
func WaitFor(t testing.TB, timeout, interval time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(timeout, interval, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Holds adapts a boolean condition for Poll and WaitFor.
func Holds(cond func() bool) func() error {
	return func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("condition false")
	}
}

// IDNumber makes the i-th of 100,000 distinct resident identity numbers
// (GB 11643) with a valid check character, all with the given 12-digit
// prefix (region and birth date), e.g. "110105194912".
func IDNumber(prefix string, i int) string {
	if len(prefix) != 12 {
		panic("testkit.IDNumber: the prefix is 12 digits")
	}
	base := fmt.Sprintf("%s%05d", prefix, i%100000)
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k := range 17 {
		sum += int(base[k]-'0') * weights[k]
	}
	return base + string("10X98765432"[sum%11])
}

// DeadNATSURL is a NATS URL where nothing listens: a loopback port just
// released, so a connection is refused at once.
func DeadNATSURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "nats://" + addr
}

// The range FreePort picks from: below the ports the kernel hands out by
// itself (32768-60999 on Linux, 49152-65535 elsewhere).
const (
	freePortMin = 20000
	freePortMax = 32767
)

// FreePort is a loopback TCP port free a moment ago, for a server that
// must be told its port before it starts (a NATS cluster's routes). It is
// picked at random below the kernel's ephemeral range: a port the kernel
// chose for a listener on port 0 and that was then released could be
// handed out again, to another test's listener or outgoing connection,
// before the server binds it; seen as a NATS server of a test cluster
// never ready when tests ran in parallel.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		p := freePortMin + rand.IntN(freePortMax-freePortMin+1)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatalf("no free loopback port in %d-%d", freePortMin, freePortMax)
	return 0
}
