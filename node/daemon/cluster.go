package daemon

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
)

// Province is one member of a cluster started by StartCluster.
type Province struct {
	ID     string
	Name   string
	Listen string // HTTP address; "127.0.0.1:0" for a free port
	// MetricsListen is the province's metrics_listen; empty takes a free
	// loopback port, as 'hcnode init' does for a node on a free port:
	// without it, /metrics would be served nowhere.
	MetricsListen string
}

// ClusterConfig describes a whole federation run on one machine: one NATS
// server, several provinces, and operators who sign the first trust list.
// The demo and multi-node tests use it.
type ClusterConfig struct {
	Dir        string // everything lives below it; kept between runs
	Federation string // default "demo"
	Provinces  []Province
	Operators  int    // default 3
	Threshold  int    // default 2
	NATSListen string // default "127.0.0.1:-1" (a free port)
	// NATSURLs, when set, are the client URLs of NATS servers already
	// running (a cluster); no server is started and NATSListen is unused.
	NATSURLs []string
	// Replicas is every province's nats.replicas (and the operator's
	// connection's); default 1. Set 3 on a 3-server cluster.
	Replicas int
	// JetStreamGrace is every node's Options.JetStreamGrace.
	JetStreamGrace time.Duration
	// Republish is every node's Options.Republish.
	Republish time.Duration
	// ErasureRetry and ErasureAckTimeout are every node's Options'.
	ErasureRetry      backoff.Policy
	ErasureAckTimeout time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
	TickEvery         time.Duration
	// Configure adjusts each province's config before it starts.
	Configure func(*config.Config)
	// Isolation federation.IsolationAccounts gives the NATS server a
	// configuration with one account per province and NKey users, written
	// (seeds kept between runs) under Dir/nats-accounts; empty runs it
	// without authentication, in one account.
	Isolation string
	// Tokens are operator tokens from an earlier run, by province id. One
	// that still authenticates as an operator is reused; otherwise, and for
	// a province initialised now, the cluster has a token made.
	Tokens map[string]string
}

// Cluster is a running federation.
type Cluster struct {
	Server    *federation.Server // nil when ClusterConfig.NATSURLs is set
	Nodes     []*Daemon
	Tokens    []string // an operator token per node, as Nodes
	Operators []*ecdsa.PrivateKey
	TrustList []byte
	Configs   []config.Config
	cc        ClusterConfig
	opt       Options
	accounts  string                  // Dir/nats-accounts in accounts mode, else ""
	serverCfg federation.ServerConfig // what Server was started with
	bound     []net.Listener          // per province, bound by StartCluster until its node takes it
}

// StartCluster initialises (first run only) and starts a federation. On
// error, whatever started is stopped.
func StartCluster(ctx context.Context, cc ClusterConfig) (_ *Cluster, err error) {
	if cc.Federation == "" {
		cc.Federation = "demo"
	}
	if cc.Operators == 0 {
		cc.Operators, cc.Threshold = 3, 2
	}
	if cc.NATSListen == "" {
		cc.NATSListen = "127.0.0.1:-1"
	}
	host, port, err := splitHostPort(cc.NATSListen)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cc: cc, opt: Options{Logger: cc.Logger, Now: cc.Now, TickEvery: cc.TickEvery,
		JetStreamGrace: cc.JetStreamGrace, Republish: cc.Republish,
		ErasureRetry: cc.ErasureRetry, ErasureAckTimeout: cc.ErasureAckTimeout}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := c.bindAll(); err != nil {
		return nil, err
	}
	var conf string
	if cc.Isolation == federation.IsolationAccounts {
		if len(cc.NATSURLs) > 0 {
			return nil, errors.New("cluster: accounts isolation needs the cluster's own NATS server, whose configuration it writes")
		}
		c.accounts = filepath.Join(cc.Dir, "nats-accounts")
		if conf, err = federation.WriteAccountsConfig(c.accounts, c.provinceIDs(), federation.AccountsOptions{Federation: cc.Federation}); err != nil {
			return nil, err
		}
	}
	if len(cc.NATSURLs) == 0 {
		c.serverCfg = federation.ServerConfig{Host: host, Port: port, ConfigFile: conf,
			StoreDir: filepath.Join(cc.Dir, "nats"), Name: "hcfed-" + cc.Federation, Logger: cc.Logger}
		if c.Server, err = federation.StartServer(c.serverCfg); err != nil {
			return nil, err
		}
	}
	if c.accounts != "" {
		if err := federation.SetupAccounts(ctx, federation.SetupConfig{URLs: c.NATSURLs(),
			Federation: cc.Federation, Members: c.provinceIDs(), SeedDir: c.accounts}); err != nil {
			return nil, err
		}
	}
	for _, p := range cc.Provinces {
		cfg := config.Default(p.ID)
		cfg.Name, cfg.Federation, cfg.DataDir, cfg.Listen = p.Name, cc.Federation, filepath.Join(cc.Dir, p.ID), p.Listen
		cfg.MetricsListen = cmp.Or(p.MetricsListen, "127.0.0.1:0")
		cfg.NATS.Embedded, cfg.NATS.URLs, cfg.NATS.Replicas = false, c.NATSURLs(), max(cc.Replicas, 1)
		if c.accounts != "" {
			cfg.NATS.Isolation = federation.IsolationAccounts
			cfg.NATS.NKeySeed = filepath.Join(c.accounts, federation.SeedFile(p.ID, federation.RoleNode))
		}
		if cc.Configure != nil {
			cc.Configure(&cfg)
		}
		ok, err := Initialized(ctx, cfg)
		if err != nil {
			return nil, err
		}
		tok := cc.Tokens[p.ID]
		if !ok {
			if tok, err = Init(ctx, cfg); err != nil {
				return nil, fmt.Errorf("init %s: %w", p.ID, err)
			}
		}
		c.Configs = append(c.Configs, cfg)
		c.Tokens = append(c.Tokens, tok)
	}
	if err := c.loadOrMakeTrustList(); err != nil {
		return nil, err
	}
	for i := range c.Configs {
		d, err := c.start(ctx, i)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, d)
		if p, err := d.Node.Authenticate(ctx, c.Tokens[i]); err == nil && p.Role == node.RoleOperator {
			continue
		}
		tok, err := d.Node.BootstrapAdmin(ctx, DefaultAdmin, "cluster")
		if err != nil {
			return nil, err
		}
		c.Tokens[i] = tok.Token
	}
	if err := c.publishFirstTrustList(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// NATSURLs are the client URLs of the federation's NATS: the cluster's
// own server, or ClusterConfig.NATSURLs.
func (c *Cluster) NATSURLs() []string {
	if c.Server != nil {
		return []string{c.Server.ClientURL()}
	}
	return c.cc.NATSURLs
}

// provinceIDs are the ids of the cluster's provinces.
func (c *Cluster) provinceIDs() []string {
	ids := make([]string, len(c.cc.Provinces))
	for i, p := range c.cc.Provinces {
		ids[i] = p.ID
	}
	return ids
}

// AccountsDir is where the accounts-mode NATS configuration and seeds
// are, or "" when the cluster's NATS runs without authentication.
func (c *Cluster) AccountsDir() string { return c.accounts }

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}

// bindAll binds every province's HTTP listener before anything starts
// or is written (the NATS server, a province's first init), so that a
// port in use is refused with nothing to undo. A metrics port is only
// tried (bound and closed: the node binds metrics_listen itself, from
// its config), with the same aim.
func (c *Cluster) bindAll() error {
	c.bound = make([]net.Listener, len(c.cc.Provinces))
	for i, p := range c.cc.Provinces {
		l, err := net.Listen("tcp", p.Listen)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		c.bound[i] = l
		if p.MetricsListen != "" {
			ml, err := net.Listen("tcp", p.MetricsListen)
			if err != nil {
				return fmt.Errorf("%s: metrics: %w", p.Name, err)
			}
			ml.Close()
		}
	}
	return nil
}

// start starts province i (again), on the listener bindAll bound for it
// if it is still unused.
func (c *Cluster) start(ctx context.Context, i int) (*Daemon, error) {
	opt := c.opt
	if i < len(c.bound) && c.bound[i] != nil {
		opt.Listener, c.bound[i] = c.bound[i], nil
	} else {
		var err error
		if opt.Listener, err = net.Listen("tcp", c.Configs[i].Listen); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Configs[i].Name, err)
		}
	}
	d, err := Start(ctx, c.Configs[i], opt)
	if err != nil {
		opt.Listener.Close()
		return nil, fmt.Errorf("start %s: %w", c.Configs[i].Province, err)
	}
	return d, nil
}

// Restart stops province i and starts it again on the same address.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if c.Nodes[i] != nil {
		c.Configs[i].Listen = c.Nodes[i].Addr()
		if err := c.Nodes[i].Close(); err != nil {
			return err
		}
	}
	d, err := c.start(ctx, i)
	c.Nodes[i] = d
	return err
}

// Stop stops province i, leaving it stopped.
func (c *Cluster) Stop(i int) error {
	if c.Nodes[i] == nil {
		return nil
	}
	c.Configs[i].Listen = c.Nodes[i].Addr()
	err := c.Nodes[i].Close()
	c.Nodes[i] = nil
	return err
}

// loadOrMakeTrustList reuses <dir>/trustlist.json, or makes operator keys
// and a first trust list naming every province, signed by Threshold
// operators, and pins it in every province's config.
func (c *Cluster) loadOrMakeTrustList() error {
	opDir := filepath.Join(c.cc.Dir, "operators")
	tlPath := filepath.Join(c.cc.Dir, "trustlist.json")
	for i := 1; i <= c.cc.Operators; i++ {
		path := filepath.Join(opDir, fmt.Sprintf("op%d.key", i))
		key, err := ReadKeyFile(path)
		if errors.Is(err, os.ErrNotExist) {
			if key, err = trust.GenerateKey(nil); err == nil {
				err = WriteKeyFile(path, key)
			}
		}
		if err != nil {
			return err
		}
		c.Operators = append(c.Operators, key)
	}
	doc, err := os.ReadFile(tlPath)
	if errors.Is(err, os.ErrNotExist) {
		if doc, err = c.firstTrustList(); err == nil {
			err = os.WriteFile(tlPath, doc, 0o644)
		}
	}
	if err != nil {
		return err
	}
	c.TrustList = doc
	sum := sha256.Sum256(doc)
	for i := range c.Configs {
		c.Configs[i].Trust.ListFile, c.Configs[i].Trust.ListSHA256 = tlPath, hex.EncodeToString(sum[:])
	}
	return nil
}

func (c *Cluster) firstTrustList() ([]byte, error) {
	var changes []trust.Change
	changes = append(changes, trust.Change{Op: "federation", Value: c.cc.Federation},
		trust.Change{Op: "threshold", N: c.cc.Threshold}, trust.Change{Op: "expires", Duration: 90 * 24 * time.Hour})
	for i, op := range c.Operators {
		jwk, err := trust.PublicJWK(&op.PublicKey, "sig")
		if err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(jwk)
		changes = append(changes, trust.Change{Op: "add-operator", ID: fmt.Sprintf("op%d", i+1), Name: fmt.Sprintf("operator %d", i+1), Key: raw})
	}
	for i, cfg := range c.Configs {
		root, err := os.ReadFile(RootJWKPath(cfg))
		if err != nil {
			return nil, err
		}
		changes = append(changes, trust.Change{Op: "add-member", ID: cfg.Province, Name: c.cc.Provinces[i].Name, Key: root})
	}
	tl, err := trust.Propose(trust.TrustList{}, changes, time.Now())
	if err != nil {
		return nil, err
	}
	return c.Sign(tl, c.cc.Threshold)
}

// Sign signs tl with the first k operators.
func (c *Cluster) Sign(tl trust.TrustList, k int) ([]byte, error) {
	payload, err := json.Marshal(tl)
	if err != nil {
		return nil, err
	}
	var doc []byte
	for _, op := range c.Operators[:k] {
		if doc, err = trust.SignTrustList(doc, payload, op); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// ensureAttempts bounds PublishTrustList's attempts to set up the streams
// and to put the trust list.
const ensureAttempts = 4

// PublishTrustList puts a trust list document in the federation's state
// bucket, as 'hcnode trust publish' does.
func (c *Cluster) PublishTrustList(ctx context.Context, doc []byte) error {
	conn, err := c.operatorConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return retryOnCluster(ctx, func(ctx context.Context) error {
		_, err := conn.PutState(ctx, "trustlist", doc)
		return err
	})
}

// retryOnCluster runs fn up to ensureAttempts times while it fails with
// anything but a refusal that another try cannot change.
func retryOnCluster(ctx context.Context, fn func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil || attempt == ensureAttempts-1 || errors.Is(err, federation.ErrPermissionDenied) ||
			errors.Is(err, federation.ErrTooLarge) {
			return err
		}
		if !backoff.Wait(ctx, streamsBackoff.Delay(attempt)) {
			return ctx.Err()
		}
	}
}

// Close stops every node and the NATS server.
func (c *Cluster) Close() error {
	var errs []error
	for _, l := range c.bound {
		if l != nil {
			l.Close() // bound by a start that failed before its node took it
		}
	}
	for _, d := range c.Nodes {
		if d != nil {
			errs = append(errs, d.Close())
		}
	}
	if c.Server != nil {
		c.Server.Shutdown()
	}
	return errors.Join(errs...)
}

// WriteKeyFile writes a P-256 private key as PEM, mode 0600, refusing to
// overwrite.
func WriteKeyFile(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadKeyFile reads what WriteKeyFile wrote: a P-256 key, the only curve
// the federation signs with (ES256). A key on another curve is refused
// here, naming the file, not later when it would sign.
func ReadKeyFile(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "EC PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not an EC PRIVATE KEY PEM file", path)
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable EC private key: %w", path, err)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s holds a key on curve %s, and federation keys must be on P-256 (ES256): "+
			"make one with 'hcnode trust keygen --out NAME'", path, key.Curve.Params().Name)
	}
	return key, nil
}
