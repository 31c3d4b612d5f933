// Package config reads a node's YAML configuration, applies HCNODE_*
// environment overrides and checks the result, so that a bad setting stops
// the node at start with a message naming the setting.
package config

import (
	"path/filepath"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// Config is a province node's configuration.
type Config struct {
	Province   string `yaml:"province"`   // GB/T 2260 code, e.g. "440000"
	Name       string `yaml:"name"`       // e.g. "Guangdong"
	Federation string `yaml:"federation"` // federation id, e.g. "demo"
	DataDir    string `yaml:"data_dir"`   // database, KEK, JetStream store
	KEKFile    string `yaml:"kek_file"`   // relative to data_dir unless absolute; $HCNODE_KEK wins
	Listen     string `yaml:"listen"`     // HTTP address
	PublicURL  string `yaml:"public_url"` // how residents and peers reach this node
	// MetricsListen is the address of a listener of its own for GET
	// /metrics (plain HTTP), which the public listener then answers 404
	// (metrics_not_public); empty leaves /metrics to MetricsTokenFile.
	// 'hcnode init' writes DefaultMetricsListen.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsTokenFile names a file (relative to data_dir unless
	// absolute) holding a bearer token: without metrics_listen, the
	// public listener serves /metrics only to a request that carries it
	// (Prometheus: authorization: credentials_file). With neither set,
	// /metrics is served nowhere. 'hcnode init --metrics-listen ""'
	// writes DefaultMetricsTokenFile and the token.
	MetricsTokenFile string `yaml:"metrics_token_file"`
	// TLS makes the node serve HTTPS itself; empty serves plain HTTP, for
	// a node behind a reverse proxy that terminates TLS.
	TLS TLS `yaml:"tls"`
	// TrustedProxies are the CIDRs of reverse proxies whose
	// X-Forwarded-For names the client; empty trusts no proxy header.
	TrustedProxies []string `yaml:"trusted_proxies"`

	Codes   Codes   `yaml:"codes"`
	Keys    Keys    `yaml:"keys"`
	NATS    NATS    `yaml:"nats"`
	Trust   Trust   `yaml:"trust"`
	Privacy Privacy `yaml:"privacy"`
	Limits  Limits  `yaml:"limits"`
	Log     Log     `yaml:"log"`
	Tokens  Tokens  `yaml:"tokens"`

	// Role is RoleHome (default) or RoleVerifier; Replica configures a
	// verifier (replica.go).
	Role    string  `yaml:"role"`
	Replica Replica `yaml:"replica"`
}

// DefaultMetricsListen is the metrics listener 'hcnode init' writes into
// a new node's config: loopback, so that the per-province counts of
// /metrics reach only this machine (a Prometheus or an agent beside
// the node), on the port of the Prometheus exporters of OpenTelemetry.
const DefaultMetricsListen = "127.0.0.1:9464"

// Tokens sets bearer-token lifetimes.
type Tokens struct {
	// OperatorLifetime is how long an operator account's token works,
	// and the longest an admin may ask for; default 720h.
	OperatorLifetime time.Duration `yaml:"operator_lifetime"`
}

// Operator token lifetime bounds (tokens.operator_lifetime).
const (
	MinOperatorLifetime     = time.Hour
	MaxOperatorLifetime     = 8760 * time.Hour
	DefaultOperatorLifetime = 720 * time.Hour
)

// Operator read limits (limits.operator_read_rate, operator_read_burst):
// by default an account reads up to 300 residents at once, then one every
// two seconds (1,800 an hour), far above a service point's or an appeals
// desk's pace and far below a province's residents. The burst is at least
// one full page of the appeals queue (100), which counts one read per
// appeal listed.
const (
	DefaultOperatorReadRate  = 0.5
	DefaultOperatorReadBurst = 300
	MinOperatorReadBurst     = 100
)

// Codes sets code validity.
type Codes struct {
	Lifetime      time.Duration `yaml:"lifetime"`       // phone codes, default 24h
	PaperLifetime time.Duration `yaml:"paper_lifetime"` // paper codes, default 7 days
	// MaxLive bounds the live (unexpired, unrevoked) codes one resident
	// may hold; issuing past it is refused (limit_reached). Default
	// DefaultMaxLiveCodes, at most MaxLiveCodes.
	MaxLive int `yaml:"max_live"`
	// IssueCache is how many residents issuance remembers (status and
	// ciphertexts, for up to ten minutes) so that a resident refreshing
	// a code, or a queue of paper codes, signs without a database read.
	// Default DefaultIssueCache, 0 turns it off, at most MaxIssueCache.
	IssueCache int `yaml:"issue_cache"`
}

// Bounds of codes.issue_cache: an entry takes about 400 bytes.
const (
	DefaultIssueCache = 1 << 16
	MaxIssueCache     = 1 << 22
)

// MaxNameLen bounds the province name, in characters: the pages show it
// in their header, beside the province code.
const MaxNameLen = 64

// Bounds of codes.max_live. A resident's live codes are revoked together,
// so the bound keeps any one status change within one revocation
// statement (trust.MaxRevocationEntries) and one resident from flooding
// the federation's revocations.
const (
	DefaultMaxLiveCodes = 8
	MaxLiveCodes        = trust.MaxRevocationEntries
)

// Keys sets the signing-key and content-key schedules.
type Keys struct {
	Rotation     time.Duration `yaml:"rotation"`      // default 7 days
	PublishAhead time.Duration `yaml:"publish_ahead"` // next key published this long before it signs; default 24h
	ContentEpoch time.Duration `yaml:"content_epoch"` // default 24h
}

// NATS says how the node reaches the federation.
type NATS struct {
	Embedded   bool     `yaml:"embedded"`   // run a NATS server in-process
	Listen     string   `yaml:"listen"`     // embedded server address, default 127.0.0.1:4222
	URLs       []string `yaml:"urls"`       // external cluster
	CredsFile  string   `yaml:"creds_file"` // NATS credentials
	NKeySeed   string   `yaml:"nkey_seed_file"`
	User       string   `yaml:"user"`
	Password   string   `yaml:"password"` // prefer $HCNODE_NATS_PASSWORD
	CAFile     string   `yaml:"ca_file"`
	CertFile   string   `yaml:"cert_file"`
	KeyFile    string   `yaml:"key_file"`
	ServerConf string   `yaml:"server_config"` // embedded server config file (permissions)
	// Replicas is the JetStream replication of the federation's streams,
	// KV bucket and object store: 1 (the default) for one server, 3 on a
	// cluster of three or more. Within [1, MaxNATSReplicas].
	Replicas int `yaml:"replicas"`
	// Isolation is "accounts" when the NATS server runs a configuration
	// written by 'hcnode nats-config' (one account per province); empty
	// for the single-account federation.
	Isolation string `yaml:"isolation"`
}

// MaxNATSReplicas is the largest JetStream replication nats-server allows.
const MaxNATSReplicas = 5

// Bounds of trust.revocations_max_age. A node publishes its heartbeat
// every 30 s: the shortest limit allows four to be missed (a NATS
// failover, a node restart) before a province's codes are refused; the
// longest is a phone code's default lifetime, past which the check says
// little.
const (
	DefaultRevocationsMaxAge = 10 * time.Minute
	MinRevocationsMaxAge     = 2 * time.Minute
	MaxRevocationsMaxAge     = 24 * time.Hour
)

// Trust says which federation trust list to start from.
type Trust struct {
	ListFile   string        `yaml:"list_file"`   // first trust list
	ListSHA256 string        `yaml:"list_sha256"` // its pinned hash
	StaleLimit time.Duration `yaml:"stale_limit"` // verify answers trust_stale after this long without sync; 0 never
	// RevocationsMaxAge is how old the revocations held of another
	// province may be before its codes verify as revocations_stale: the
	// time since the last heartbeat of that province whose revocation seq
	// this node had applied. Shorter refuses codes sooner when a province
	// or this node is cut off (a revoked code passes for at most this
	// long); longer keeps checkpoints answering through longer outages.
	// Within [MinRevocationsMaxAge, MaxRevocationsMaxAge]; default
	// DefaultRevocationsMaxAge.
	RevocationsMaxAge time.Duration `yaml:"revocations_max_age"`
	// RebootstrapUnsafe lets a pinned list_file newer than the held trust
	// list replace it although it does not follow from it by the chain
	// rules: the operators' re-bootstrap of a federation, given out of
	// band. It is audited. Set it for one start only.
	RebootstrapUnsafe bool `yaml:"rebootstrap_unsafe"`
}

// Privacy sets what is collected and kept.
type Privacy struct {
	NoticeVersion string   `yaml:"notice_version"`
	Purpose       string   `yaml:"purpose"`
	Collect       []string `yaml:"collect"` // of name, id_number, phone
	Retention     struct {
		Subjects time.Duration `yaml:"subjects"` // personal data kept this long after last use
		Codes    time.Duration `yaml:"codes"`    // code bookkeeping kept this long after expiry
		Audit    time.Duration `yaml:"audit"`
		// Lookups bounds how long contact data obtained from another
		// province for a case is kept, sealed, before it is deleted.
		Lookups time.Duration `yaml:"lookups"`
		// Appeals bounds how long a resolved appeal is kept after its
		// resolution: its text (the resident's message and the operator's
		// note, which may name other people) is deleted then, while the
		// audit log keeps what was decided (outcome, status set).
		Appeals time.Duration `yaml:"appeals"`
	} `yaml:"retention"`
	// Receipts says whether verification receipts are exchanged with
	// other provinces: ReceiptsSend (the default) sends the home province
	// of each valid foreign code verified here its day and kind of place,
	// and records for this province's residents the receipts others send;
	// ReceiptsOff does neither. The privacy notice says which. Changing
	// it changes the notice: give the notice a new notice_version.
	Receipts string `yaml:"receipts"`
	// ReceiptsEvery is how often queued receipts are sent, in one batch
	// per home province: the coarser, the less the time a batch arrives
	// says about when a code was scanned. Default 1h, within [1s, 24h].
	ReceiptsEvery time.Duration `yaml:"receipts_every"`
}

// NoticeVersion is the version of the privacy notice this build serves
// (node.PrivacyNotice), the default of privacy.notice_version. The notice's
// text is the build's: a build that changes what it promises moves this,
// and names the version it replaces in SupersededNotices.
const NoticeVersion = "2027-03"

// SupersededNotices are earlier builds' notice versions, each with what
// changed since. A config written by an earlier 'hcnode init' names one
// of them; the node serves this build's notice under NoticeVersion
// instead, so that a version never names two texts (node.New says so in
// its log). Residents who consented to an earlier version keep their
// consent: it is checked only at enrolment.
var SupersededNotices = map[string]string{
	"2026-11": "it promised deletion at any time; a resident's own deletion now waits while their status is yellow or red",
	"2026-12": "it did not name the retention of resolved appeals (privacy.retention.appeals): their text is deleted that long after the resolution, and the audit log keeps the decision only",
	"2027-01": "it did not say how long the legal basis another province stated for a lookup is kept: readable for privacy.retention.lookups, then as a keyed digest only, which can confirm a given text but not reveal it",
	"2027-02": "it did not say that another province obtains a resident's name and phone number only by proving it saw their code itself (scanned it, or holds it), not by the code's id alone",
}

// DefaultAppealRetention is privacy.retention.appeals unless set: a
// resident reads the outcome, and may appeal again, within a month; the
// decision stays in the audit log. MaxAppealRetention bounds it: a
// resolved appeal's text is kept no longer than a lookup's contact data.
const (
	DefaultAppealRetention = 30 * 24 * time.Hour
	MaxAppealRetention     = MaxLookupRetention
)

// MaxLookupRetention bounds privacy.retention.lookups: no province keeps
// contact data obtained in a lookup longer, so a home province knows when
// every copy it gave has ended (an erasure not delivered by then is moot).
const MaxLookupRetention = 90 * 24 * time.Hour

// Values of privacy.receipts.
const (
	ReceiptsSend = "send"
	ReceiptsOff  = "off"
)

// Limits bound what clients may send.
type Limits struct {
	BodyBytes    int64   `yaml:"body_bytes"`    // request body limit
	ScannerRate  float64 `yaml:"scanner_rate"`  // verifies per second per scanner
	ScannerBurst int     `yaml:"scanner_burst"` // burst above the rate
	// ResidentRate bounds each resident's requests per second, on every
	// route their token reaches (codes, QR images, appeals, history).
	ResidentRate  float64 `yaml:"resident_rate"`
	ResidentBurst int     `yaml:"resident_burst"` // burst above the rate
	// OperatorReadRate bounds each operator account's reads of residents'
	// records per second (a record, its verifications, appeals or
	// lookups, a paper code's page, an open appeal listed, an ID number found already
	// enrolled, a wallet link replaced, a cross-province lookup), so that
	// one account, or its stolen token, cannot read the province's
	// residents in bulk; OperatorReadBurst is the burst above it. A
	// resident's record read again by the same account within 15
	// minutes is not charged again (node/reads.go rereadWindow).
	OperatorReadRate  float64 `yaml:"operator_read_rate"`
	OperatorReadBurst int     `yaml:"operator_read_burst"`
	// BulkBytes bounds one POST /v1/statuses body, which body_bytes does
	// not bound; BulkLineBytes bounds each of its lines.
	BulkBytes     int64 `yaml:"bulk_bytes"`
	BulkLineBytes int   `yaml:"bulk_line_bytes"`
	// MaxConnections bounds the HTTP connections the node's listener
	// (listen) holds open at once, idle keep-alive ones included; past
	// it a new connection waits in the kernel's queue until one closes,
	// so a flood of connections cannot take the node's file descriptors
	// and memory. Default DefaultMaxConnections, within [1,
	// MaxMaxConnections]. The metrics listener is not counted.
	MaxConnections int `yaml:"max_connections"`
	// ReplicaKeysWindow is how long a home node holds a verifier
	// replica's key set that no admin confirmed toward the bound of
	// store.MaxReplicaKeyCandidates a replica: past it the set is
	// dropped, so that a replica-token holder who filled the bound does
	// not keep refusing the replica's new keys (replica_keys_limit) until
	// an admin acts. Default DefaultReplicaKeysWindow, within
	// [MinReplicaKeysWindow, MaxReplicaKeysWindow].
	ReplicaKeysWindow time.Duration `yaml:"replica_keys_window"`
}

// Bounds of limits.replica_keys_window. An hour is ample for an admin
// to compare a fingerprint; past 30 days a filled bound would outlast
// any operator's patience.
const (
	DefaultReplicaKeysWindow = 24 * time.Hour
	MinReplicaKeysWindow     = time.Hour
	MaxReplicaKeysWindow     = 30 * 24 * time.Hour
)

// Bounds of limits.max_connections. The default is well above a
// province's scanners and desks at their busiest (each holds one or a
// few keep-alive connections), and well below configs/hcnode.service's
// LimitNOFILE (65536), which the database, NATS and the metrics listener
// share.
const (
	DefaultMaxConnections = 4096
	MaxMaxConnections     = 1 << 20
)

// TLS names the node's HTTPS certificate and key (PEM files). Both are
// read again when they change, or on SIGHUP.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Log sets logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Default returns a configuration that works for a local demo of province.
func Default(province string) Config {
	c := Config{
		Province:   province,
		Federation: "demo",
		KEKFile:    "kek.key",
		Listen:     "127.0.0.1:8080",
		Codes:      Codes{Lifetime: 24 * time.Hour, PaperLifetime: 7 * 24 * time.Hour, MaxLive: DefaultMaxLiveCodes, IssueCache: DefaultIssueCache},
		Keys:       Keys{Rotation: 7 * 24 * time.Hour, PublishAhead: 24 * time.Hour, ContentEpoch: 24 * time.Hour},
		NATS:       NATS{Embedded: true, Listen: "127.0.0.1:4222", Replicas: 1},
		Trust:      Trust{StaleLimit: 24 * time.Hour, RevocationsMaxAge: DefaultRevocationsMaxAge},
		Limits:     Limits{BodyBytes: 16 << 10, ScannerRate: 5, ScannerBurst: 20, ResidentRate: 1, ResidentBurst: 20},
		Log:        Log{Level: "info", Format: "json"},
		Tokens:     Tokens{OperatorLifetime: DefaultOperatorLifetime},
		Role:       RoleHome,
		Replica: Replica{Refresh: DefaultReplicaRefresh, MaxStale: DefaultReplicaMaxStale,
			SendEvery: DefaultReplicaSendEvery},
	}
	c.Limits.BulkBytes, c.Limits.BulkLineBytes = 256<<20, 4<<10
	c.Limits.OperatorReadRate, c.Limits.OperatorReadBurst = DefaultOperatorReadRate, DefaultOperatorReadBurst
	c.Limits.MaxConnections = DefaultMaxConnections
	c.Limits.ReplicaKeysWindow = DefaultReplicaKeysWindow
	c.Privacy.NoticeVersion = NoticeVersion
	c.Privacy.Purpose = "epidemic-prevention"
	c.Privacy.Collect = []string{"name", "id_number"}
	c.Privacy.Retention.Subjects = 90 * 24 * time.Hour
	c.Privacy.Retention.Codes = 30 * 24 * time.Hour
	c.Privacy.Retention.Audit = 365 * 24 * time.Hour
	c.Privacy.Retention.Lookups = 30 * 24 * time.Hour
	c.Privacy.Retention.Appeals = DefaultAppealRetention
	c.Privacy.Receipts = ReceiptsSend
	c.Privacy.ReceiptsEvery = time.Hour
	return c
}

// Collects reports whether field is in privacy.collect.
func (c *Config) Collects(field string) bool {
	for _, f := range c.Privacy.Collect {
		if f == field {
			return true
		}
	}
	return false
}

// KEKPath resolves kek_file against data_dir.
func (c *Config) KEKPath() string {
	if c.KEKFile == "" || filepath.IsAbs(c.KEKFile) {
		return c.KEKFile
	}
	return filepath.Join(c.DataDir, c.KEKFile)
}

// MetricsTokenPath resolves metrics_token_file against data_dir; "" when
// it is unset.
func (c *Config) MetricsTokenPath() string {
	if c.MetricsTokenFile == "" || filepath.IsAbs(c.MetricsTokenFile) {
		return c.MetricsTokenFile
	}
	return filepath.Join(c.DataDir, c.MetricsTokenFile)
}

// DBPath is the node's SQLite file.
func (c *Config) DBPath() string { return filepath.Join(c.DataDir, "node.db") }
