package config

import (
	"net"
	"net/url"
	"path/filepath"
	"time"
)

// Values of role.
const (
	// RoleHome is a province's node: it holds the residents, issues and
	// signs codes, and publishes to the federation. The default.
	RoleHome = "home"
	// RoleVerifier is a verify-only replica of a home node: no personal
	// data, no signing key, nothing published; it answers POST /v1/verify
	// for the province's scanners, which it learns from its home node.
	RoleVerifier = "verifier"
)

// Replica configures a node of role verifier: how it reaches its home node.
type Replica struct {
	// Home is the home node's URL on the province's internal network;
	// https, or http to a loopback address only.
	Home string `yaml:"home"`
	// Token is the replica token 'hcnode replica add' printed at home;
	// prefer TokenFile or $HCNODE_REPLICA_TOKEN.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// CAFile is the CA that signed the home node's certificate; empty
	// uses the system's roots.
	CAFile string `yaml:"ca_file"`
	// Refresh is how often the replica asks its home node for the
	// scanners and content keys; default DefaultReplicaRefresh. A scanner
	// removed at home is refused at every replica within Refresh plus one
	// request.
	Refresh time.Duration `yaml:"refresh"`
	// MaxStale is how long the replica keeps admitting scanners without a
	// successful refresh; past it every scanner is refused
	// (replica_stale) and /readyz answers 503. Default
	// DefaultReplicaMaxStale.
	MaxStale time.Duration `yaml:"max_stale"`
	// SendEvery is how often queued verification records are sent home;
	// default DefaultReplicaSendEvery.
	SendEvery time.Duration `yaml:"send_every"`
}

// Replica defaults and bounds.
const (
	DefaultReplicaRefresh   = 2 * time.Second
	DefaultReplicaMaxStale  = 30 * time.Second
	DefaultReplicaSendEvery = time.Second
	MinReplicaRefresh       = 100 * time.Millisecond
	MaxReplicaRefresh       = time.Minute
	MaxReplicaMaxStale      = time.Hour
)

// IsVerifier reports whether the node runs as a verifier replica.
func (c *Config) IsVerifier() bool { return c.Role == RoleVerifier }

// validateRole checks role and, for a verifier, the replica section.
func (c *Config) validateRole(bad func(field, format string, a ...any)) {
	switch c.Role {
	case "", RoleHome:
		return
	case RoleVerifier:
	default:
		bad("role", "%q must be home or verifier", c.Role)
		return
	}
	r := c.Replica
	if u, err := url.Parse(r.Home); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		bad("replica.home", "%q must be an https:// URL (http:// only to a loopback address): the replica token travels on it", r.Home)
	}
	if r.Token == "" && r.TokenFile == "" {
		bad("replica.token_file", "required (or $HCNODE_REPLICA_TOKEN): the token 'hcnode replica add' printed at home")
	}
	within(bad, "replica.refresh", r.Refresh, MinReplicaRefresh, MaxReplicaRefresh)
	if r.MaxStale < 2*r.Refresh || r.MaxStale > MaxReplicaMaxStale {
		bad("replica.max_stale", "%v must be within [2 × replica.refresh, %v]", r.MaxStale, MaxReplicaMaxStale)
	}
	within(bad, "replica.send_every", r.SendEvery, MinReplicaRefresh, MaxReplicaRefresh)
	if c.NATS.Embedded {
		bad("nats.embedded", "a verifier follows its federation's NATS: set nats.urls, not embedded")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReplicaDBPath is a verifier replica's SQLite file.
func (c *Config) ReplicaDBPath() string { return filepath.Join(c.DataDir, "replica.db") }
