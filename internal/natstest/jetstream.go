package natstest

import (
	"fmt"
	"strings"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream connects a client to every server of the cluster, without
// credentials (its servers' global account), closed at the end of the
// test.
func (c *Cluster) JetStream() jetstream.JetStream {
	c.t.Helper()
	nc, err := nats.Connect(strings.Join(c.ClientURLs(), ","))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// running are the servers up now.
func (c *Cluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var up []*server.Server
	for _, ns := range c.servers {
		if ns != nil {
			up = append(up, ns)
		}
	}
	return up
}

// MetaLeader is the index of the JetStream meta leader among the
// running servers, or -1.
func (c *Cluster) MetaLeader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ns := range c.servers {
		if ns != nil && ns.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// WaitMetaLeader waits until JetStream has a meta leader that sees
// every running server online (else a stream asking for three replicas
// fails with "no suitable peers for placement, peer offline"), and every
// running server's view of the meta group is current.
func (c *Cluster) WaitMetaLeader() {
	c.t.Helper()
	testkit.WaitFor(c.t, LeaderTimeout, pollEvery, "a JetStream meta leader", func() error {
		l := c.MetaLeader()
		if l < 0 {
			return fmt.Errorf("no meta leader among %d running servers", len(c.running()))
		}
		up := c.running()
		if ns := c.Server(l); ns == nil || len(ns.JetStreamClusterPeers()) < len(up) {
			return fmt.Errorf("the meta leader sees fewer than the %d running servers online", len(up))
		}
		for _, ns := range up {
			if !ns.JetStreamIsCurrent() {
				return fmt.Errorf("%s is not current with the meta group", ns.Name())
			}
		}
		return nil
	})
}

// StreamsCurrent reports nil once every running server holds a current
// replica of each stream in account (GlobalAccount without accounts).
func (c *Cluster) StreamsCurrent(account string, streams ...string) error {
	for _, ns := range c.running() {
		for _, s := range streams {
			if !ns.JetStreamIsStreamCurrent(account, s) {
				return fmt.Errorf("%s: replica of %s not current", ns.Name(), s)
			}
		}
	}
	return nil
}

// WaitStreamsCurrent waits until StreamsCurrent holds.
func (c *Cluster) WaitStreamsCurrent(account string, streams ...string) {
	c.t.Helper()
	testkit.WaitFor(c.t, LeaderTimeout, pollEvery, "stream replicas current", func() error {
		return c.StreamsCurrent(account, streams...)
	})
}

// StreamLeader is the index of the running server leading stream in
// account, or -1.
func (c *Cluster) StreamLeader(account, stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ns := range c.servers {
		if ns != nil && ns.JetStreamIsStreamLeader(account, stream) {
			return i
		}
	}
	return -1
}
