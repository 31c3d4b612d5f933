package daemon_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hcfed/hcfed/internal/testkit"
)

// TestAConnectionPastMaxConnectionsWaitsUntilOneCloses: with
// limits.max_connections at 2 and two connections in a request, a third
// is not served (it waits in the kernel's queue) until one of the two
// closes; then its request is answered. Idle keep-alive connections give
// way at the cap: two clients that each made a request and kept their
// connection no longer keep a third out for the server's idle timeout (a
// minute, renewed by one request a minute). hcfed_http_connections_open
// counts the open ones, hcfed_http_connections_max the cap.
func TestAConnectionPastMaxConnectionsWaitsUntilOneCloses(t *testing.T) {
	t.Parallel()
	cfg := standaloneConfig(t)
	cfg.Limits.MaxConnections = 2
	d, _ := startStandalone(t, cfg)
	addr := strings.TrimPrefix(d.URL, "http://")
	m := d.Node.Metrics()
	if got := gaugeValue(t, m.HTTPConnectionsMax); got != 2 {
		t.Errorf("hcfed_http_connections_max = %v, want 2", got)
	}

	// dial opens a connection and sends req.
	dial := func(req string) (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := fmt.Fprintf(c, req, addr); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	const (
		whole = "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n"
		begun = "GET /healthz HTTP/1.1\r\nHost: %s\r\n" // its headers not ended: in a request
	)
	// read reads one response within wait.
	read := func(c net.Conn, r *bufio.Reader, wait time.Duration) (*http.Response, error) {
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(r, nil)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}

	// Two keep-alive connections, each answered and kept: a third is
	// served all the same.
	type kept struct {
		c net.Conn
		r *bufio.Reader
	}
	var keptAlive []kept
	for i := range 2 {
		c, r := dial(whole)
		if resp, err := read(c, r, 5*time.Second); err != nil || resp.StatusCode != 200 {
			t.Fatalf("keep-alive connection %d: %v %v, want 200", i+1, resp, err)
		}
		keptAlive = append(keptAlive, kept{c, r})
	}
	c, r := dial(whole)
	if resp, err := read(c, r, 2*time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a third connection beside two idle keep-alive ones at a cap of 2: %v %v, want 200 at once", resp, err)
	}
	c.Close()
	// At most one of the two kept idle is still open (which one depends
	// on when each went idle), and the gauge counts exactly those the
	// node has not closed.
	if err := testkit.Poll(5*time.Second, 5*time.Millisecond, func() error {
		stillOpen := 0
		for _, k := range keptAlive {
			if _, err := read(k.c, k.r, 5*time.Millisecond); errors.Is(err, os.ErrDeadlineExceeded) {
				stillOpen++
			}
		}
		if stillOpen > 1 {
			return fmt.Errorf("both connections kept idle are still open at a cap of 2")
		}
		if got := gaugeValue(t, m.HTTPConnections); got != float64(stillOpen) {
			return fmt.Errorf("hcfed_http_connections_open = %v, want %d", got, stillOpen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Two connections in a request hold the cap.
	c1, r1 := dial(begun)
	c2, _ := dial(begun)
	pollGauge(t, m.HTTPConnections, 2)
	c3, r3 := dial(whole) // accepted by the kernel, not by the node
	if resp, err := read(c3, r3, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection past a cap of 2 was answered: %v %v", resp, err)
	}
	if _, err := read(c1, r1, 10*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection in a request was closed at the cap: %v", err)
	}
	c1.Close()
	if resp, err := read(c3, r3, 5*time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the third connection, once the first closed: %v %v, want 200", resp, err)
	}
	c2.Close()
}

// gaugeValue reads g.
func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var out dto.Metric
	if err := g.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetGauge().GetValue()
}

// pollGauge waits until g reads want.
func pollGauge(t *testing.T, g prometheus.Gauge, want float64) {
	t.Helper()
	if err := testkit.Poll(5*time.Second, 5*time.Millisecond, func() error {
		if got := gaugeValue(t, g); got != want {
			return fmt.Errorf("hcfed_http_connections_open = %v, want %v", got, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
