package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Federation is what the node tells the federation layer. A standalone
// node has none.
type Federation interface {
	// KeysChanged is called after the node's keyset or content keys
	// changed, so the new keyset and content-key grants can be published.
	KeysChanged(ctx context.Context)
	// RevocationsPending is called after a revocation was committed to the
	// outbox, so it can be published.
	RevocationsPending(ctx context.Context)
}

// Config wires a Node. DB, KEK and Settings are required.
type Config struct {
	DB       *store.DB
	KEK      *seal.Key
	Settings config.Config
	// State is the trust state to verify with; nil makes a standalone
	// state in which only this province is a member.
	State   *trust.State
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time // defaults to time.Now
	Rand    io.Reader        // defaults to crypto/rand
}

// Node is one province's node. Its methods are safe for concurrent use.
type Node struct {
	cfg     config.Config
	db      *store.DB
	kek     *seal.Key
	state   *trust.State
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	rand    io.Reader
	fed     atomic.Pointer[fedBox] // set once connected, from another goroutine

	keys    *keySchedule // the node's own keys and their schedule (keyschedule.go)
	access  *access      // scanners, accounts, tokens and rate limits (access.go)
	auditor *auditor
	codes   *codes                // code issuance and rendering (codes.go)
	scans   *scans                // scanners' verifications of codes (verify.go)
	records *records              // a resident's record, verifications and appeals (records.go)
	lookups *lookups              // cross-province lookups, asking and answering (lookup.go)
	peers   atomic.Pointer[Peers] // cross-province lookups and receipts, while connected

	residents *residents    // enrolment, status, deletion and the blind index (residents.go)
	notice    *servedNotice // the privacy notice served, and its recorded text (noticerecord.go)
	refusals  *refusalAudit // which access.refused entries are written, and their writing (refusals.go)

	replicas  *Replicas  // the verifier replicas' service and its state (replicas.go)
	retention *retention // the retention pass and when it last ran (retention.go)

	trustKick chan struct{} // a new trust list was applied
}

// New opens a node whose keys were created by InitKeys.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DB == nil || cfg.KEK == nil {
		return nil, errors.New("node: DB and KEK are required")
	}
	if err := cfg.Settings.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg.Settings, db: cfg.DB, kek: cfg.KEK, state: cfg.State, log: cfg.Logger,
		metrics: cfg.Metrics, now: cfg.Now, rand: cfg.Rand}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("province", n.cfg.Province)
	if changed, ok := config.SupersededNotices[n.cfg.Privacy.NoticeVersion]; ok {
		n.log.Warn("privacy.notice_version names the privacy notice of an earlier build; this build serves its own notice under its own version. "+
			"Residents who consented to the earlier one keep their consent; set privacy.notice_version to the new version in the config",
			"configured", n.cfg.Privacy.NoticeVersion, "served", config.NoticeVersion, "changed", changed)
		n.cfg.Privacy.NoticeVersion = config.NoticeVersion
	}
	if n.metrics == nil {
		n.metrics = NewMetrics()
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.rand == nil {
		n.rand = rand.Reader
	}
	prov, err := n.db.GetMeta(ctx, "province")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if prov != n.cfg.Province {
		return nil, Errorf(EUnavailable, "database belongs to province %q, config says %q: run 'hcnode init' or fix the config", prov, n.cfg.Province)
	}
	if n.notice, err = openNotice(ctx, n.db, n.cfg, n.now); err != nil {
		return nil, err
	}
	kr, err := loadKeyring(ctx, n.db, n.kek)
	if err != nil {
		return nil, err
	}
	indexKey, err := openSubjectIndex(ctx, n.db, n.kek, n.log)
	if err != nil {
		return nil, err
	}
	caseKey, err := openCaseKey(ctx, n.db, n.kek)
	if err != nil {
		return nil, err
	}
	if n.state == nil {
		if n.state, err = trust.NewState(trust.StateConfig{Self: n.cfg.Province, EncKey: kr.enc,
			SelfRoot: &kr.root.PublicKey, RevocationsMaxAge: n.cfg.Trust.RevocationsMaxAge, LocalRevocations: true}); err != nil {
			return nil, err
		}
	}
	n.db.SetIssueCacheEntries(n.cfg.Codes.IssueCache)
	n.metrics.watchIssueCache(n.db)
	n.metrics.WatchRevocations(n.state, n.now)
	n.trustKick = make(chan struct{}, 1)
	check, err := openTokenCheck(ctx, n.db, n.kek)
	if err != nil {
		return nil, err
	}
	n.access = newAccess(n.db, n.cfg, check, n.metrics, n.now, n.rand)
	n.replicas = &Replicas{a: n.access, n: n}
	n.refusals = newRefusalAudit(newRefusals(refusalPairsMax), n.db, n.log, n.metrics, n.now)
	n.keys = newKeySchedule(kr, n.db, n.kek, n.state, n.cfg, n.log, n.metrics, n.now, &n.fed)
	n.codes = newCodes(n.db, n.kek, n.state, &n.keys.issuer, n.cfg, n.metrics, n.now, n.rand, n.access)
	n.residents = newResidents(indexKey, n.db, n.kek, n.state, n.cfg, n.log, n.metrics, n.now, n.rand,
		n.codes, n.access, &n.fed)
	n.residents.notice = n.notice
	n.records = newRecords(n.db, n.kek, n.cfg, n.metrics, n.now, n.rand, n.access, &n.peers, n.residents.revoked)
	if err := loadOwnRevocations(ctx, n.db, n.state, n.now()); err != nil {
		return nil, err
	}
	if err := n.keys.start(ctx); err != nil {
		return nil, err
	}
	// The audit log's writer starts once nothing in New can fail: a New
	// that failed left it running, with nothing to close it.
	n.auditor = newAuditor(n.db, n.log, n.metrics)
	n.scans = newScans(n.cfg.Province, n.state, n.access, n.records, n.auditor, n.metrics, n.now)
	n.lookups = newLookups(n.db, n.kek, n.state, n.keys, n.cfg, n.now, n.rand, &n.peers, n.auditor, caseKey, n.log, n.metrics, n.access)
	n.retention = newRetention(n.db, n.cfg, n.log, n.metrics, n.now, n.lookups, n.residents)
	return n, nil
}

// EncKey is the node's content-key-grant decryption key, for building a
// federation trust state before New.
func EncKey(ctx context.Context, db *store.DB, kek *seal.Key) (*trust.Key, error) {
	kr, err := loadKeyring(ctx, db, kek)
	if err != nil {
		return nil, err
	}
	return &trust.Key{Public: &kr.enc.PublicKey}, nil
}

// fedBox holds a Federation so it can be swapped atomically.
type fedBox struct{ Federation }

// SetFederation attaches the federation layer. It may be called while the
// node serves: the federation connects in the background.
func (n *Node) SetFederation(f Federation) { n.fed.Store(&fedBox{f}) }

// loadFederation returns the federation layer held in p, or nil.
func loadFederation(p *atomic.Pointer[fedBox]) Federation {
	if b := p.Load(); b != nil {
		return b.Federation
	}
	return nil
}

// Province is the node's province id.
func (n *Node) Province() string { return n.cfg.Province }

// Settings returns the node's configuration.
func (n *Node) Settings() config.Config { return n.cfg }

// State is the node's trust state.
func (n *Node) State() *trust.State { return n.state }

// Metrics are the node's metrics.
func (n *Node) Metrics() *Metrics { return n.metrics }

// Now is the node's clock.
func (n *Node) Now() time.Time { return n.now() }

// Keyset is the node's current signed keyset statement.
func (n *Node) Keyset() string { return n.keys.keyset() }

// Signer signs statements with the node's active signing key.
func (n *Node) Signer() *trust.StatementSigner { return n.keys.signer.Load() }

// ContentKeys returns the node's own live content keys.
func (n *Node) ContentKeys() []trust.ContentKey { return n.keys.contentKeys() }

// Run does the node's periodic work until ctx ends: key schedule, pruning
// of expired revocations. It returns when ctx is done.
func (n *Node) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.Tick(ctx); err != nil {
				n.log.Error("periodic maintenance failed", "err", err)
			}
		case <-n.trustKick:
			if err := n.TrustListChanged(ctx); err != nil {
				n.log.Error("re-signing the keyset for the new trust list failed", "err", err)
			}
		}
	}
}

// TrustListApplied tells the node, without blocking, that a new trust list
// was applied; Run then re-signs the keyset if the list names a new root.
func (n *Node) TrustListApplied() {
	select {
	case n.trustKick <- struct{}{}:
	default:
	}
}

// Tick runs the periodic work once, at the node's clock.
func (n *Node) Tick(ctx context.Context) error {
	now := n.now()
	n.state.Prune(now)
	if err := n.refusals.writeCounts(ctx, now, false); err != nil {
		n.log.Warn("refused requests counted in the last minute could not be audited; retrying at the next tick", "err", err)
	}
	if n.db.KeysWALPending() {
		// A deletion's shredding found a reader on keys.db: its WAL may
		// still hold the deleted key's old frames until truncated.
		if err := n.db.FinishShredding(ctx); err != nil {
			n.log.Warn("keys.db's WAL still holds frames of a shredded data key; retrying at the next tick", "err", err)
		}
	}
	if err := n.replicas.tick(ctx, now); err != nil {
		n.log.Warn("replica keys past limits.replica_keys_window could not be dropped; retrying at the next tick", "err", err)
	}
	if err := n.retention.tick(ctx, now); err != nil {
		return err
	}
	return n.keys.tick(ctx, now)
}

// Close flushes the audit log, with the counts of refused requests not
// written yet (refusalAudit.writeCounts), which a restart would forget.
func (n *Node) Close() error {
	if err := n.refusals.writeCounts(context.Background(), n.now(), true); err != nil {
		n.log.Warn("refused requests counted but not audited are lost with this stop", "err", err)
	}
	n.auditor.close()
	return nil
}

// loadOwnRevocations puts the node's own revocations live at now, as db
// keeps them, into state, for New.
func loadOwnRevocations(ctx context.Context, db *store.DB, state *trust.State, now time.Time) error {
	es, err := db.LiveRevocations(ctx, now)
	if err != nil {
		return err
	}
	seq, err := db.LastRevocationSeq(ctx)
	if err != nil {
		return err
	}
	state.RevokeOwn(seq, toTrustEntries(es), now)
	return nil
}

func toTrustEntries(es []store.RevocationEntry) []trust.RevocationEntry {
	out := make([]trust.RevocationEntry, len(es))
	for i, e := range es {
		out[i] = trust.RevocationEntry{JTI: e.JTI, Expires: e.Expires.Unix()}
	}
	return out
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// internal wraps an unexpected error; it is logged by the API layer and
// never shown to a client.
func internal(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }
