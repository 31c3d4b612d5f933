package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// NewTrustState builds the trust state a node starts with: its own
// province trusted on its own root key, and the federation trust list it
// last accepted (from its database) — or, on first start or when the
// operators pinned a newer one, the list in trust.list_file, whose SHA-256
// must equal trust.list_sha256.
//
// A pinned list newer than the held one must follow from it by the chain
// rules (signed by k operators of both). One that does not is refused,
// and the node does not start, unless trust.rebootstrap_unsafe says the
// operators re-bootstrapped the federation: then it replaces the held list
// and the re-bootstrap is audited. A pinned file that does not parse is
// refused too.
func NewTrustState(ctx context.Context, db *store.DB, kek *seal.Key, cfg config.Config, now time.Time) (*trust.State, []byte, error) {
	return newTrustState(ctx, db, kek, cfg, now, true)
}

// newTrustState is NewTrustState; with write false it records nothing (a
// re-bootstrap is held in memory only), for offline tools.
func newTrustState(ctx context.Context, db *store.DB, kek *seal.Key, cfg config.Config, now time.Time, write bool) (*trust.State, []byte, error) {
	kr, err := loadKeyring(ctx, db, kek)
	if err != nil {
		return nil, nil, err
	}
	st, err := trust.NewState(trust.StateConfig{Self: cfg.Province, EncKey: kr.enc, SelfRoot: &kr.root.PublicKey,
		PinnedSHA256: cfg.Trust.ListSHA256, StaleLimit: cfg.Trust.StaleLimit,
		RevocationsMaxAge: cfg.Trust.RevocationsMaxAge, LocalRevocations: true})
	if err != nil {
		return nil, nil, err
	}
	// The list this node last accepted is its anchor, not the pinned file:
	// re-applying an old pinned list would break the chain after operator
	// rotations.
	var cachedVersion uint64
	if cached, err := db.Statement(ctx, "trustlist"); err == nil {
		if err := st.RestoreTrustList(cached.Raw); err != nil {
			return nil, nil, fmt.Errorf("cached trust list: %w", err)
		}
		cachedVersion = st.TrustList().Version
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if cfg.Trust.ListFile == "" {
		return st, nil, nil
	}
	doc, err := ReadPinnedTrustList(cfg)
	if err != nil {
		return nil, nil, err
	}
	if cachedVersion == 0 {
		if err := st.ApplyTrustList(doc, now); err != nil {
			return nil, nil, PinnedListRefused(cfg.Trust.ListFile, err)
		}
		// Held from now on: the next start checks a pinned file against it.
		if write {
			if err := db.PutStatement(ctx, store.Statement{Key: "trustlist", Raw: doc,
				Version: st.TrustList().Version, Received: now}); err != nil {
				return nil, nil, fmt.Errorf("recording the pinned trust list: %w", err)
			}
		}
		return st, doc, nil
	}
	p, err := trust.ParseTrustList(doc)
	if err != nil {
		return nil, nil, PinnedListRefused(cfg.Trust.ListFile, err)
	}
	if p.Version <= cachedVersion {
		return st, doc, nil
	}
	chainErr := st.ApplyTrustList(doc, now)
	if chainErr == nil {
		return st, doc, nil
	}
	if !cfg.Trust.RebootstrapUnsafe {
		return nil, nil, fmt.Errorf("trust.list_file %s (version %d) does not follow from the trust list this node holds "+
			"(version %d): %w. Refusing to start. Only if the federation operators re-bootstrapped the federation and "+
			"gave you this file out of band, start once with trust.rebootstrap_unsafe: true (serve --trust-rebootstrap-unsafe)",
			cfg.Trust.ListFile, p.Version, cachedVersion, chainErr)
	}
	if err := st.RestoreTrustList(doc); err != nil {
		return nil, nil, fmt.Errorf("trust.list_file: %w", err)
	}
	if write {
		detail, _ := json.Marshal(map[string]any{"from_version": cachedVersion, "to_version": p.Version,
			"list_sha256": cfg.Trust.ListSHA256, "chain": trust.ReasonOf(chainErr)})
		e := store.AuditEntry{Time: now.UTC().Truncate(time.Microsecond), Actor: "operator", Action: "trust.rebootstrap",
			Detail: string(detail)}
		if err := db.PutStatement(ctx, store.Statement{Key: "trustlist", Raw: doc, Version: p.Version, Received: now}, e); err != nil {
			return nil, nil, fmt.Errorf("recording the re-bootstrapped trust list: %w", err)
		}
	}
	return st, doc, nil
}

// ReadPinnedTrustList reads the trust list file the config pins
// (trust.list_file) and checks it has the pinned SHA-256 and names the
// config's federation, saying what staff do when it cannot be read or
// does not match.
func ReadPinnedTrustList(cfg config.Config) ([]byte, error) {
	doc, err := os.ReadFile(cfg.Trust.ListFile)
	if err != nil {
		return nil, fmt.Errorf("trust.list_file %s cannot be read: put the trust list the federation operators "+
			"gave you there, or correct trust.list_file (HCNODE_TRUST_LIST_FILE): %w", cfg.Trust.ListFile, err)
	}
	if sum := sha256.Sum256(doc); hex.EncodeToString(sum[:]) != cfg.Trust.ListSHA256 {
		return nil, fmt.Errorf("trust.list_file %s does not match trust.list_sha256: refusing to start with an unpinned trust list", cfg.Trust.ListFile)
	}
	// A list of another federation than the config's: the node would
	// read and write another federation's subjects on NATS, and its
	// user's permissions refuse them, which says nothing of the cause.
	// 'hcnode init' writes federation: demo unless told --federation.
	if p, err := trust.ParseTrustList(doc); err == nil && p.Federation != cfg.Federation {
		return nil, fmt.Errorf("trust.list_file %s is a trust list of federation %s, but this node's federation is %s: "+
			"set federation: %s in the config (HCNODE_FEDERATION), the federation id the operators gave you",
			cfg.Trust.ListFile, p.Federation, cfg.Federation, p.Federation)
	}
	return doc, nil
}

// PinnedListRefused is the error for a pinned trust list file that does
// not parse or that the node may not accept (expired, short of its
// operators' signatures): what is wrong with it, and what staff do.
func PinnedListRefused(file string, err error) error {
	return fmt.Errorf("trust.list_file %s is refused (%w): ask the federation operators for the trust list in "+
		"force, check it with 'hcnode trust verify FILE', and pin it with its SHA-256 (trust.list_sha256)", file, err)
}

// OfflineState builds, without writing anything, the trust state a node's
// database holds: the pinned trust list, its own keyset, content keys and
// revocations, and every peer statement it cached. Offline tools (hcnode
// verify) check codes against it with no network at all.
//
// A database put back from a backup and not yet reconciled with the
// federation (store.Restored) is refused, as the node's /readyz refuses
// it: the province's own revocations made after the backup are not in
// it, and a code revoked then would verify.
func OfflineState(ctx context.Context, db *store.DB, kek *seal.Key, cfg config.Config, now time.Time) (*trust.State, error) {
	if at, err := db.GetMeta(ctx, store.Restored); err == nil {
		return nil, fmt.Errorf("this database was restored from a backup (%s) and has not been reconciled with the federation "+
			"yet: codes revoked after the backup would verify as valid. Start the node connected to the federation "+
			"(hcnode serve) until /readyz answers 200, then verify offline again", at)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	st, _, err := newTrustState(ctx, db, kek, cfg, now, false)
	if err != nil {
		return nil, err
	}
	kr, err := loadKeyring(ctx, db, kek)
	if err != nil {
		return nil, err
	}
	raw, err := db.GetMeta(ctx, "keyset")
	if err != nil {
		return nil, internal("offline state: no keyset yet; start the node once", err)
	}
	if err := st.ApplyKeyset(cfg.Province, raw, now); err != nil {
		return nil, err
	}
	for _, ck := range kr.content {
		st.AddOwnContentKey(ck)
	}
	es, err := db.LiveRevocations(ctx, now)
	if err != nil {
		return nil, err
	}
	seq, err := db.LastRevocationSeq(ctx)
	if err != nil {
		return nil, err
	}
	st.RevokeOwn(seq, toTrustEntries(es), now)
	clock := func() time.Time { return now }
	sync, err := federation.NewSync(federation.SyncConfig{State: st, Self: cfg.Province, Cache: &cache{db: db, now: clock},
		Now: clock})
	if err != nil {
		return nil, err
	}
	if err := sync.Restore(ctx); err != nil {
		return nil, err
	}
	return st, nil
}
