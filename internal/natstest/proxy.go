package natstest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// routeDialTimeout bounds a proxy's connection to the server it forwards to.
const routeDialTimeout = 2 * time.Second

// routeProxy forwards the route connections one server makes to another
// (one proxy per ordered pair), so that Crash can cut every route of a
// server at once, as the kernel does when a server process is killed.
type routeProxy struct {
	ln net.Listener

	mu     sync.Mutex
	target string
	cut    bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// newRouteProxy listens on a loopback port and forwards to target.
func newRouteProxy(target string) (*routeProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &routeProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// retarget makes the proxy forward new connections to target.
func (p *routeProxy) retarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// addr is the proxy's host:port.
func (p *routeProxy) addr() string { return p.ln.Addr().String() }

func (p *routeProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		out, err := net.DialTimeout("tcp", target, routeDialTimeout)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			in.Close()
			out.Close()
			continue
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(in, out) })
		p.wg.Go(func() { p.pipe(out, in) })
	}
}

// pipe copies src to dst until either fails, then closes both.
func (p *routeProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
	src.Close()
	dst.Close()
}

// setCut cuts (closing every connection and refusing new ones) or
// restores the proxy.
func (p *routeProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if !cut {
		return
	}
	for c := range p.conns {
		c.Close()
	}
}

// close stops the proxy and waits for its goroutines.
func (p *routeProxy) close() {
	p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}

// sink accepts connections and closes them at once: the cluster address
// every server advertises, so that no server dials another's route port
// directly (an implicit route, learned from a third server's gossip, would
// bypass the proxies).
type sink struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	return s, nil
}

func (s *sink) close() {
	s.ln.Close()
	s.wg.Wait()
}

// startProxies starts a route proxy for every ordered pair of servers and
// the sink every server advertises as its cluster address.
func (c *Cluster) startProxies() error {
	sk, err := newSink()
	if err != nil {
		return err
	}
	c.sink = sk
	c.proxies = make([][]*routeProxy, len(c.routes))
	for i := range c.routes {
		c.proxies[i] = make([]*routeProxy, len(c.routes))
		for j, port := range c.routes {
			if i == j {
				continue
			}
			p, err := newRouteProxy("127.0.0.1:" + strconv.Itoa(port))
			if err != nil {
				c.closeProxies()
				return err
			}
			c.proxies[i][j] = p
		}
	}
	return nil
}

// cutRoutes cuts or restores every route to and from server i.
func (c *Cluster) cutRoutes(i int, cut bool) {
	for j := range c.proxies {
		if j != i {
			c.proxies[i][j].setCut(cut)
			c.proxies[j][i].setCut(cut)
		}
	}
}

// closeProxies stops the route proxies and the sink.
func (c *Cluster) closeProxies() {
	for _, row := range c.proxies {
		for _, p := range row {
			if p != nil {
				p.close()
			}
		}
	}
	if c.sink != nil {
		c.sink.close()
	}
}
