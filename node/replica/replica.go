package replica

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// EncKeyMeta and SigKeyMeta are the replica database's settings where
// the replica's enc and signing private keys are kept, sealed under the
// KEK. The signing key signs the records it sends home; a replica of a
// build before it gets one at its next start.
const (
	EncKeyMeta = "enc_key"
	SigKeyMeta = "sig_key"
)

// Config wires a Replica. Settings (role verifier), DB and KEK are
// required.
type Config struct {
	Settings config.Config
	DB       *store.ReplicaDB
	KEK      *seal.Key
	Logger   *slog.Logger
	Now      func() time.Time // defaults to time.Now
	Rand     io.Reader        // defaults to crypto/rand
}

// Replica is a running verifier replica's state. Its methods are safe for
// concurrent use.
type Replica struct {
	cfg     config.Config
	db      *store.ReplicaDB
	state   *trust.State
	pinned  []byte
	enc     *ecdsa.PrivateKey
	sig     *ecdsa.PrivateKey
	fp      string // trust.ReplicaFingerprint of enc and sig
	metrics *node.Metrics
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
	home    *homeClient
	limiter node.ScannerLimiter

	scanners atomic.Pointer[map[string]node.Principal] // by node.ScannerTokenHash
	synced   atomic.Int64                              // Unix nanoseconds of the last refresh from home
	failures prometheus.Counter                        // failed refreshes and sends
	refused  prometheus.Counter                        // records home refused as invalid

	unchanged prometheus.Counter // refreshes home answered 304
	tooLarge  prometheus.Counter // answers of home's over maxHomeResponse

	// last is what the last answer from home installed carried; only the
	// refresh loop uses it.
	last lastSync
	// view is what home last said of the replica's keys, kept in
	// replica.db for 'hcnode check' (homeview.go); only the refresh loop
	// uses it after New.
	view HomeView

	// behindRevocations and behindKeyset are a revocation seq and a
	// keyset version of this province that home reported and this replica
	// had not applied then (nil: none); see noteHome.
	behindRevocations, behindKeyset atomic.Pointer[lag]

	// unconfirmed is what the operator has to do while home does not
	// trust this replica's keys (replica_unconfirmed); nil once it does.
	unconfirmed atomic.Pointer[string]
}

// lastSync is what the replica keeps of home's last answer, for the
// refreshes home answers 304: its ETag, the content keys it sealed, and
// the revocation seq and keyset version it reported.
type lastSync struct {
	tag                          string
	cks                          []trust.ContentKey
	revocationSeq, keysetVersion uint64
}

// New opens a replica: its enc key (made at the first start), and the
// trust state it verifies with, starting from the pinned trust list.
func New(ctx context.Context, cfg Config) (*Replica, error) {
	s := cfg.Settings
	if !s.IsVerifier() || cfg.DB == nil || cfg.KEK == nil {
		return nil, errors.New("replica: a verifier config, DB and KEK are required")
	}
	r := &Replica{cfg: s, db: cfg.DB, log: cfg.Logger, now: cfg.Now, rand: cfg.Rand, metrics: node.NewMetrics(),
		limiter: node.NewScannerLimiter(s.Limits.ScannerRate, s.Limits.ScannerBurst)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("province", s.Province, "role", config.RoleVerifier)
	if r.now == nil {
		r.now = time.Now
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	var err error
	if r.enc, err = r.loadKey(ctx, cfg.KEK, EncKeyMeta, encKeyAAD, "enc"); err != nil {
		return nil, err
	}
	if r.sig, err = r.loadKey(ctx, cfg.KEK, SigKeyMeta, sigKeyAAD, "signing"); err != nil {
		return nil, err
	}
	if r.fp, err = trust.ReplicaFingerprint(&r.enc.PublicKey, &r.sig.PublicKey); err != nil {
		return nil, err
	}
	r.loadHomeView(ctx)
	// Logged before home has answered: what the replica may do until the
	// confirmation depends on home (register logs which case it is).
	r.log.Info("replica key fingerprint: compare it with the one home shows, and confirm it there once "+
		"('hcnode replica confirm NAME FINGERPRINT', admin); until then home sends no content key, unless it held "+
		"this replica's enc key before the upgrade (grandfathered): then the replica serves and holds its verification records",
		"fingerprint", r.fp)
	if r.state, r.pinned, err = newState(s, r.now()); err != nil {
		return nil, err
	}
	r.metrics.WatchRevocations(r.state, r.now)
	tok, err := loadToken(s.Replica)
	if err != nil {
		return nil, err
	}
	if r.home, err = newHomeClient(s.Replica, tok); err != nil {
		return nil, err
	}
	r.home.sig = r.sig
	r.registerMetrics()
	return r, nil
}

// encKeyAAD and sigKeyAAD bind each sealed key to its use.
var (
	encKeyAAD = []byte("hcfed replica enc key")
	sigKeyAAD = []byte("hcfed replica sig key")
)

// OpenEncKey unseals the replica's enc key held (sealed under kek) as a
// start does, and refuses it in the start's words: a preflight checks
// the KEK with it.
func OpenEncKey(kek *seal.Key, held []byte) (*ecdsa.PrivateKey, error) {
	return openKey(kek, held, encKeyAAD, "enc")
}

// Keys names the replica's keys as home lists them ('hcnode replica
// list'): the fingerprint of both, which an admin confirms, and each
// key's thumbprint (the list's key_id is the enc key's).
type Keys struct{ Fingerprint, EncKeyID, SigKeyID string }

// ReadKeys names the replica's keys as a start computes them from
// encHeld and sigHeld (sealed under kek), for a preflight to print.
func ReadKeys(kek *seal.Key, encHeld, sigHeld []byte) (k Keys, err error) {
	enc, err := OpenEncKey(kek, encHeld)
	if err != nil {
		return Keys{}, err
	}
	sig, err := openKey(kek, sigHeld, sigKeyAAD, "signing")
	if err != nil {
		return Keys{}, err
	}
	if k.Fingerprint, err = trust.ReplicaFingerprint(&enc.PublicKey, &sig.PublicKey); err != nil {
		return Keys{}, err
	}
	if k.EncKeyID, err = trust.Thumbprint(&enc.PublicKey); err != nil {
		return Keys{}, err
	}
	k.SigKeyID, err = trust.Thumbprint(&sig.PublicKey)
	return k, err
}

func openKey(kek *seal.Key, held, aad []byte, what string) (*ecdsa.PrivateKey, error) {
	der, err := kek.Open(aad, held)
	if err != nil {
		return nil, fmt.Errorf("replica %s key does not open with this KEK: %w", what, err)
	}
	return x509.ParseECPrivateKey(der)
}

// loadKey opens the replica's key kept at meta, making it at the first
// start.
func (r *Replica) loadKey(ctx context.Context, kek *seal.Key, meta string, aad []byte, what string) (*ecdsa.PrivateKey, error) {
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), r.rand)
	if err != nil {
		return nil, fmt.Errorf("replica %s key: %w", what, err)
	}
	der, err := x509.MarshalECPrivateKey(fresh)
	if err != nil {
		return nil, fmt.Errorf("replica %s key: %w", what, err)
	}
	held, err := r.db.InitMeta(ctx, meta, kek.Seal(aad, der))
	if err != nil {
		return nil, err
	}
	return openKey(kek, held, aad, what)
}

// Fingerprint is the fingerprint of the replica's keys, which an admin
// confirms at home ('hcnode replica confirm NAME FINGERPRINT').
func (r *Replica) Fingerprint() string { return r.fp }

// newState makes the trust state from the pinned trust list, if any.
func newState(s config.Config, now time.Time) (*trust.State, []byte, error) {
	st, err := trust.NewState(trust.StateConfig{Self: s.Province, PinnedSHA256: s.Trust.ListSHA256, StaleLimit: s.Trust.StaleLimit,
		RevocationsMaxAge: s.Trust.RevocationsMaxAge})
	if err != nil {
		return nil, nil, err
	}
	if s.Trust.ListFile == "" {
		return st, nil, nil
	}
	doc, err := node.ReadPinnedTrustList(s)
	if err != nil {
		return nil, nil, err
	}
	if err := st.ApplyTrustList(doc, now); err != nil {
		return nil, nil, node.PinnedListRefused(s.Trust.ListFile, err)
	}
	return st, doc, nil
}

// State is the trust state the replica verifies with; the federation sync
// applies statements to it.
func (r *Replica) State() *trust.State { return r.state }

// PinnedTrustList is the pinned trust list document, for the sync.
func (r *Replica) PinnedTrustList() []byte { return r.pinned }

// Metrics are the replica's metrics.
func (r *Replica) Metrics() *node.Metrics { return r.metrics }

// Settings returns the replica's configuration.
func (r *Replica) Settings() config.Config { return r.cfg }

// stale reports why scanners are refused: no refresh from home within
// replica.max_stale, or a revocation or keyset home reported and this
// replica has not received for as long; nil while fresh.
func (r *Replica) stale() error {
	last := r.synced.Load()
	if u := r.unconfirmed.Load(); u != nil && (last == 0 || r.now().Sub(time.Unix(0, last)) > r.cfg.Replica.MaxStale) {
		return node.Errorf(node.EReplicaUnconfirmed, "%s", *u)
	}
	if last == 0 {
		return node.Errorf(node.EReplicaStale, "this replica has not reached its home node yet; scanners are refused until it does")
	}
	now := r.now()
	if age := now.Sub(time.Unix(0, last)); age > r.cfg.Replica.MaxStale {
		return node.Errorf(node.EReplicaStale, "this replica has not reached its home node for %s; scanners are refused until it does",
			age.Round(time.Second))
	}
	if l, age, ok := r.lagging(&r.behindRevocations, r.heldRevocationSeq, now); ok {
		return node.Errorf(node.EReplicaStale, "this replica has not received its home node's revocation %d over NATS for %s, "+
			"so it cannot tell which codes it revokes; scanners are refused until it does", l.seq, age.Round(time.Second))
	}
	if l, age, ok := r.lagging(&r.behindKeyset, r.heldKeysetVersion, now); ok {
		return node.Errorf(node.EReplicaStale, "this replica has not received its home node's keyset version %d over NATS for %s, "+
			"so it cannot tell which of its keys are withdrawn; scanners are refused until it does", l.seq, age.Round(time.Second))
	}
	return nil
}

// lag is a revocation seq or keyset version of this province that the
// home node reported and this replica had not applied then, and when it
// was reported.
type lag struct {
	seq   uint64
	since time.Time
}

// lagging returns the lag held in behind, and how old it is at now, if
// the replica has still not applied it (held) after replica.max_stale.
// It reads held only while a lag is kept: not on every request.
func (r *Replica) lagging(behind *atomic.Pointer[lag], held func() uint64, now time.Time) (lag, time.Duration, bool) {
	l := behind.Load()
	if l == nil || now.Sub(l.since) <= r.cfg.Replica.MaxStale || held() >= l.seq {
		return lag{}, 0, false
	}
	return *l, now.Sub(l.since), true
}

// heldRevocationSeq is the seq of this province's last revocation the
// replica applied.
func (r *Replica) heldRevocationSeq() uint64 { return r.state.RevocationSeq(r.cfg.Province) }

// heldKeysetVersion is the version of this province's keyset the replica
// holds, 0 for none.
func (r *Replica) heldKeysetVersion() uint64 {
	if ks := r.state.Keyset(r.cfg.Province); ks != nil {
		return ks.Version
	}
	return 0
}

// noteHome compares home, the seq or version the home node reported,
// with held, what the replica has applied, at now, and keeps in behind
// the first one seen missing until it is applied: a replica keeping up
// with a stream of revocations is a few behind at every refresh, but
// never behind the same one for long. Only the refresh loop calls it.
func noteHome(behind *atomic.Pointer[lag], home, held uint64, now time.Time) {
	l := behind.Load()
	if l != nil && held >= l.seq {
		l = nil
	}
	if l == nil && home > held {
		l = &lag{seq: home, since: now}
	}
	behind.Store(l)
}

// Authenticate resolves a scanner token against the scanners the home
// node registered, as of the last refresh. Past replica.max_stale without
// one, every token is refused (EReplicaStale): the replica cannot know
// which scanners were removed meanwhile.
func (r *Replica) Authenticate(_ context.Context, token string) (node.Principal, error) {
	if !strings.HasPrefix(token, "hct_") || len(token) > 128 {
		return node.Principal{}, node.Errorf(node.EUnauthorized, "missing or malformed bearer token")
	}
	if err := r.stale(); err != nil {
		// A scanner hears replica_stale either way: its page says "Not
		// checked"; the reason is for the operator (/readyz).
		if e := (*node.Error)(nil); errors.As(err, &e) && e.Code == node.EReplicaUnconfirmed {
			return node.Principal{}, node.Errorf(node.EReplicaStale, "%s", e.Message)
		}
		return node.Principal{}, err
	}
	if set := r.scanners.Load(); set != nil {
		if p, ok := (*set)[node.ScannerTokenHash(token)]; ok {
			return p, nil
		}
	}
	return node.Principal{}, node.Errorf(node.EUnauthorized, "unknown token")
}

// Verify checks a code for a scanner, as the home node's Verify does, and
// queues the record of it for the home node before answering.
func (r *Replica) Verify(ctx context.Context, p node.Principal, code string) (node.Verification, error) {
	if p.Role != node.RoleScanner {
		return node.Verification{}, node.Errorf(node.EForbidden, "this token may not do that")
	}
	now := r.now()
	if !r.limiter.Allow(p.ScannerID, now) {
		return node.Verification{}, node.Errorf(node.ERateLimited, "too many verifications from this scanner; slow down")
	}
	start := time.Now()
	code = strings.TrimRight(code, "\r\n\t ")
	snap := r.state.Snapshot()
	res := trust.Verify(code, snap, r.state, now)
	r.metrics.VerifySeconds.Observe(time.Since(start).Seconds())
	r.metrics.Verified.WithLabelValues(node.IssuerLabel(snap, res.Issuer), string(res.Reason)).Inc()
	id := make([]byte, 16)
	if _, err := io.ReadFull(r.rand, id); err != nil {
		return node.Verification{}, fmt.Errorf("verify: record id: %w", err)
	}
	rec := node.NewReplicaRecord(base64.RawURLEncoding.EncodeToString(id), p, r.cfg.Province, code, res, now)
	body, err := json.Marshal(rec)
	if err != nil {
		return node.Verification{}, fmt.Errorf("verify: %w", err)
	}
	// The record is durable before the scanner sees the result: a
	// verification the home node never hears of would be one the
	// resident cannot learn of.
	if err := r.db.Enqueue(ctx, store.OutboxRecord{ID: rec.ID, Body: body, Created: now}); err != nil {
		return node.Verification{}, fmt.Errorf("verify: queue record: %w", err)
	}
	return node.VerificationOf(res, now), nil
}

// Ready reports nil while the replica has heard from its home node within
// replica.max_stale.
func (r *Replica) Ready(context.Context) error { return r.stale() }

// registerMetrics adds the replica's own metrics.
func (r *Replica) registerMetrics() {
	r.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_replica_home_failures_total",
		Help: "Failed requests of this verifier replica to its home node (refreshes and record batches)."})
	r.refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_replica_records_refused_total",
		Help: "Verification records the home node refused as invalid, dropped; should stay 0."})
	r.unchanged = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_replica_refresh_unchanged_total",
		Help: "Refreshes of this verifier replica its home node answered 304: scanners and content keys unchanged, not sent."})
	r.tooLarge = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcfed_replica_home_answer_too_large_total",
		Help: "Answers of the home node over this replica's limit (maxHomeResponse), unused; should stay 0."})
	r.metrics.Registry.MustRegister(r.failures, r.refused, r.unchanged, r.tooLarge,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_replica_sync_age_seconds",
			Help: "Seconds since this verifier replica last refreshed its scanners and content keys from its home node."},
			func() float64 {
				if last := r.synced.Load(); last != 0 {
					return r.now().Sub(time.Unix(0, last)).Seconds()
				}
				return -1
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcfed_replica_outbox",
			Help: "Verification records queued at this replica, not yet acknowledged by its home node."},
			func() float64 {
				n, err := r.db.OutboxLen(context.Background())
				if err != nil {
					return -1
				}
				return float64(n)
			}))
}
