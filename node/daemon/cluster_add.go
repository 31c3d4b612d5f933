package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hcfed/hcfed/node/config"
)

// AddProvince initialises and starts one more province on the cluster's
// NATS server while the federation runs, as a province joining it would:
// 'hcnode init', then its node pinned to the trust list the federation
// holds now (the one the first running node holds), not the cluster's
// first one, which the operators may have replaced since. Until the
// operators publish a version that lists it, the new node trusts only
// itself, and its peers hold its statements back unapplied; its root key,
// for the operators to list, is at RootJWKPath of its config.
func (c *Cluster) AddProvince(ctx context.Context, p Province) (*Daemon, error) {
	if c.accounts != "" {
		return nil, errors.New("add province: the cluster's NATS has one account per province; regenerate its configuration with the new member (hcnode nats-config) and restart it")
	}
	pinned, err := c.heldTrustList()
	if err != nil {
		return nil, err
	}
	cfg := config.Default(p.ID)
	cfg.Name, cfg.Federation, cfg.DataDir, cfg.Listen = p.Name, c.cc.Federation, filepath.Join(c.cc.Dir, p.ID), p.Listen
	cfg.NATS.Embedded, cfg.NATS.URLs, cfg.NATS.Replicas = false, c.NATSURLs(), max(c.cc.Replicas, 1)
	if c.cc.Configure != nil {
		c.cc.Configure(&cfg)
	}
	for _, have := range c.Configs {
		if have.Province == p.ID {
			return nil, fmt.Errorf("add province: %s is already in the cluster", p.ID)
		}
	}
	ok, err := Initialized(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var tok string
	if !ok {
		if tok, err = Init(ctx, cfg); err != nil {
			return nil, fmt.Errorf("init %s: %w", p.ID, err)
		}
	}
	cfg.Trust.ListFile = filepath.Join(cfg.DataDir, "trustlist.pinned.json")
	if err := os.WriteFile(cfg.Trust.ListFile, pinned, 0o644); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pinned)
	cfg.Trust.ListSHA256 = hex.EncodeToString(sum[:])
	c.Configs = append(c.Configs, cfg)
	c.cc.Provinces = append(c.cc.Provinces, p)
	d, err := c.start(ctx, len(c.Configs)-1)
	if err != nil {
		c.Configs, c.cc.Provinces = c.Configs[:len(c.Configs)-1], c.cc.Provinces[:len(c.cc.Provinces)-1]
		return nil, err
	}
	if tok == "" {
		minted, err := d.Node.BootstrapAdmin(ctx, DefaultAdmin, "cluster")
		if err != nil {
			return nil, errors.Join(err, d.Close())
		}
		tok = minted.Token
	}
	c.Nodes = append(c.Nodes, d)
	c.Tokens = append(c.Tokens, tok)
	return d, nil
}

// heldTrustList is the trust list document the first running node holds.
func (c *Cluster) heldTrustList() ([]byte, error) {
	for _, d := range c.Nodes {
		if d == nil {
			continue
		}
		if tl := d.Node.State().TrustList(); tl != nil {
			return tl.Raw, nil
		}
	}
	return nil, errors.New("add province: no running node holds a trust list to pin")
}
