package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hcfed/hcfed/federation"
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
//
// In accounts mode the new member first gets its NATS account, as the
// operators would give it one: the configuration is regenerated with it
// (every seed kept), the cluster's NATS server is restarted on it (the
// running nodes reconnect), and the accounts are set up again, so every
// aggregate gains a source. Not a config reload: see restartServer.
func (c *Cluster) AddProvince(ctx context.Context, p Province) (*Daemon, error) {
	pinned, err := c.heldTrustList()
	if err != nil {
		return nil, err
	}
	cfg := config.Default(p.ID)
	cfg.Name, cfg.Federation, cfg.DataDir, cfg.Listen = p.Name, c.cc.Federation, filepath.Join(c.cc.Dir, p.ID), p.Listen
	cfg.NATS.Embedded, cfg.NATS.URLs, cfg.NATS.Replicas = false, c.NATSURLs(), max(c.cc.Replicas, 1)
	if c.accounts != "" {
		cfg.NATS.Isolation = federation.IsolationAccounts
		cfg.NATS.NKeySeed = filepath.Join(c.accounts, federation.SeedFile(p.ID, federation.RoleNode))
	}
	if c.cc.Configure != nil {
		c.cc.Configure(&cfg)
	}
	for _, have := range c.Configs {
		if have.Province == p.ID {
			return nil, fmt.Errorf("add province: %s is already in the cluster", p.ID)
		}
	}
	if err := c.addAccount(ctx, p.ID); err != nil {
		return nil, err
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

// addAccount gives province id a NATS account on the cluster's server in
// accounts mode (nothing otherwise): the configuration regenerated with
// it, seeds kept; the server restarted; every account set up again.
func (c *Cluster) addAccount(ctx context.Context, id string) error {
	if c.accounts == "" {
		return nil
	}
	members := append(c.provinceIDs(), id)
	if _, err := federation.WriteAccountsConfig(c.accounts, members, federation.AccountsOptions{Federation: c.cc.Federation}); err != nil {
		return fmt.Errorf("add province: %w", err)
	}
	if err := c.restartServer(); err != nil {
		return fmt.Errorf("add province: %w", err)
	}
	if err := federation.SetupAccounts(ctx, federation.SetupConfig{URLs: c.NATSURLs(), Federation: c.cc.Federation,
		Members: members, SeedDir: c.accounts}); err != nil {
		return fmt.Errorf("add province: %w", err)
	}
	return nil
}

// restartServer stops the cluster's NATS server and starts it again on
// the same address and store, with its configuration read again. A config
// reload (nats-server v2.15.2, Server.ReloadOptions) was tried first: it
// applied the new account, users and quotas, and the new account's
// sources from the others worked, but the others' sources into the new
// account's aggregates never became active (no error; the same
// configuration works at once after a restart). docs/design-changes.md,
// "Province isolation on NATS".
func (c *Cluster) restartServer() error {
	sc := c.serverCfg
	u, err := url.Parse(c.Server.ClientURL())
	if err != nil {
		return err
	}
	if sc.Port, err = strconv.Atoi(u.Port()); err != nil {
		return err
	}
	c.Server.Shutdown()
	c.Server, err = federation.StartServer(sc)
	return err
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
