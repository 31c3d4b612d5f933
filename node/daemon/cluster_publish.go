package daemon

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/hcfed/hcfed/federation"
)

// operatorConn connects to the cluster's NATS as the federation operator
// and makes sure the federation's streams exist. On a loaded cluster the
// creation of R3 streams may outlast one JetStream API request, and the
// first put into a bucket just created may find its stream still electing
// a leader ("no response from stream"): callers retry with retryOnCluster.
// A cluster just started, or one whose meta leader missed a server's
// heartbeat on a loaded machine, may not place R3 replicas yet ("no
// suitable peers for placement, peer offline"): that is waited for as
// 'hcnode trust publish' waits, up to federation.PlacementWait.
func (c *Cluster) operatorConn(ctx context.Context) (*federation.Conn, error) {
	cfg := federation.ConnConfig{URLs: c.NATSURLs(), Federation: c.cc.Federation,
		Name: "hcfed-operator", Replicas: c.cc.Replicas, Logger: c.cc.Logger}
	if c.accounts != "" {
		cfg.Isolation = federation.IsolationAccounts
		cfg.NKeySeedFile = filepath.Join(c.accounts, federation.SeedFile("", federation.RoleOperator))
	}
	conn, err := federation.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	placed := func(ctx context.Context) error { return conn.EnsureStreamsPlaced(ctx, nil) }
	if err := retryOnCluster(ctx, placed); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// PublishedTrustList is the trust list document in the federation's state
// bucket; an error wrapping federation.ErrNotFound if it holds none.
func (c *Cluster) PublishedTrustList(ctx context.Context) ([]byte, error) {
	conn, err := c.operatorConn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var doc []byte
	err = retryOnCluster(ctx, func(ctx context.Context) error {
		var err error
		doc, _, err = conn.GetState(ctx, "trustlist")
		if errors.Is(err, federation.ErrNotFound) {
			return nil
		}
		return err
	})
	if err == nil && doc == nil {
		err = federation.ErrNotFound
	}
	return doc, err
}

// publishFirstTrustList publishes, when the state bucket holds no trust
// list, the newest one a started node holds (the first list on a first
// run). A restart on the same data directory leaves alone the list the
// bucket holds: it may be a later version the operators published, which
// every node holds too, and putting the first one back would be a
// rollback each node refuses and warns about.
func (c *Cluster) publishFirstTrustList(ctx context.Context) error {
	_, err := c.PublishedTrustList(ctx)
	if !errors.Is(err, federation.ErrNotFound) {
		return err // nil: the bucket holds one
	}
	doc := c.TrustList
	var version uint64
	for _, d := range c.Nodes {
		if tl := d.Node.State().TrustList(); tl != nil && tl.Version > version {
			doc, version = tl.Raw, tl.Version
		}
	}
	return c.PublishTrustList(ctx, doc)
}
