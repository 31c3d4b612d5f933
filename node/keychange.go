package node

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// keysetPublishTimeout bounds the wait for the federation to acknowledge a
// keyset that a manual rotation publishes before it activates a key.
const keysetPublishTimeout = 10 * time.Second

// keyChange is one change to the node's keys being prepared: a copy of
// the keyring to change, and the writes that will commit it. The keyring,
// keyset, issuer and signer the node serves with change only once
// commitKeys has committed the writes, all in one transaction.
type keyChange struct {
	kr        *keyring
	now       time.Time
	w         store.KeyChange
	rotations int    // signing-key promotions, for the metric
	rootKID   string // a root activated by this change, for the log
	// minVersion is a keyset version the new keyset must exceed: one the
	// federation holds that the database does not know (after a restore).
	minVersion uint64
	// audience is the new audience of the content keys this change
	// records, lapsed the members that left it (new keys were started
	// for them) under trust list lapsedVersion, joined an audience that
	// members only joined, recorded apart (contentrekey.go).
	audience      map[string]bool
	joined        map[string]bool
	lapsed        []string
	lapsedVersion uint64
	// compromised is the signing key this change marked compromised first,
	// for which it started new content keys ("-" if it could not).
	compromised string
	// requested is set when an admin asked for new content keys
	// (RekeyContent).
	requested bool
	// lost replaces the keySchedule's lost keys when not nil
	// (restorekeys.go).
	lost *[]lostKey
}

// beginKeys starts a key change at now. Callers hold ks.mu.
func (ks *keySchedule) beginKeys(now time.Time) *keyChange {
	return &keyChange{kr: ks.kr.clone(), now: now}
}

// changed reports whether the change writes anything.
func (kc *keyChange) changed() bool { return !kc.w.Empty() }

func (kc *keyChange) insert(row store.KeyRow) { kc.w.Insert = append(kc.w.Insert, row) }

// update records a key's new state; a key inserted or updated earlier in
// this change is written once, with its last state.
func (kc *keyChange) update(row store.KeyRow) {
	for i := range kc.w.Insert {
		if kc.w.Insert[i].KID == row.KID {
			kc.w.Insert[i] = row
			return
		}
	}
	for i := range kc.w.Update {
		if kc.w.Update[i].KID == row.KID {
			kc.w.Update[i] = row
			return
		}
	}
	kc.w.Update = append(kc.w.Update, row)
}

func (kc *keyChange) drop(kid string) { kc.w.Delete = append(kc.w.Delete, kid) }

func (kc *keyChange) audit(e store.AuditEntry) { kc.w.Audit = append(kc.w.Audit, e) }

// commitKeys signs a new keyset over the changed keyring and checks that
// the node's own trust state accepts it, builds the issuer and signer for
// it, and only then commits the keys, the keyset and the audit entries in
// one transaction. After the commit it swaps all of them in. On any error
// nothing changed, in the database or in memory. Callers hold ks.mu.
func (ks *keySchedule) commitKeys(ctx context.Context, kc *keyChange) error {
	now := kc.now
	root, err := ks.signingRoot(kc)
	if err != nil {
		return err
	}
	ver, err := ks.metaUint(ctx, "keyset_version")
	if err != nil {
		return err
	}
	set := trust.Keyset{Issuer: ks.province, Version: max(ver, kc.minVersion) + 1, IssuedAt: now.Unix(),
		Expires: now.Add(2 * ks.cfg.Rotation).Unix()}
	for _, k := range kc.kr.sign {
		e, err := trust.KeysetEntryFor(k.trustKey())
		if err != nil {
			return err
		}
		set.Keys = append(set.Keys, e)
	}
	lost, err := ks.lostEntries(kc)
	if err != nil {
		return err
	}
	for _, l := range lost {
		set.Keys = append(set.Keys, l.entry)
	}
	if set.Enc, err = trust.EncJWK(&kc.kr.enc.PublicKey); err != nil {
		return err
	}
	raw, err := trust.SignKeyset(root, set)
	if err != nil {
		return err
	}
	if err := ks.state.CheckKeyset(ks.province, raw, now); err != nil {
		return fmt.Errorf("own keyset refused by own trust state: %w", err)
	}
	signer, ci, err := ks.newIssuer(kc.kr, now)
	if err != nil {
		return err
	}
	if kc.w.Meta == nil {
		kc.w.Meta = map[string]string{}
	}
	kc.w.Meta["keyset_version"], kc.w.Meta["keyset"] = strconv.FormatUint(set.Version, 10), raw
	if err := ks.db.ChangeKeys(ctx, kc.w); err != nil {
		return err
	}
	ks.kr.adopt(kc.kr)
	ks.lost = lost
	if kc.rootKID != "" {
		ks.log.Info("root key rotated as the trust list now names it", "root", kc.rootKID)
	}
	ks.metrics.KeyRotations.Add(float64(kc.rotations))
	ks.committedAudience(kc, ci.ContentKeyID())
	if err := ks.state.ApplyKeyset(ks.province, raw, now); err != nil {
		// Checked above under ks.mu; only a trust list applied meanwhile
		// can refuse it, and TrustListChanged then signs again.
		ks.log.Error("own keyset refused after its keys were committed", "err", err)
	}
	ks.keysetRaw.Store(&raw)
	ks.keysetExp = time.Unix(set.Expires, 0)
	ks.install(ctx, ks.kr, signer, ci)
	return nil
}

// newIssuer builds the code issuer and statement signer for kr's active
// signing key and the content key of now's epoch.
func (ks *keySchedule) newIssuer(kr *keyring, now time.Time) (*trust.StatementSigner, *trust.CodeIssuer, error) {
	act := kr.active()
	if act == nil {
		return nil, nil, fmt.Errorf("no active signing key")
	}
	signer, err := trust.NewStatementSigner(act.priv)
	if err != nil {
		return nil, nil, err
	}
	id, _, _ := epochOf(now, ks.cfg.ContentEpoch)
	ck := kr.currentContentKey(ks.province, id)
	if ck == nil {
		return nil, nil, fmt.Errorf("no content key for the current epoch")
	}
	ci, err := trust.NewCodeIssuer(ks.province, signer, act.row.Expires, *ck)
	if err != nil {
		return nil, nil, err
	}
	return signer, ci, nil
}

// install makes signer and ci the node's, gives kr's content keys to the
// trust state and tells the federation. Callers hold ks.mu.
func (ks *keySchedule) install(ctx context.Context, kr *keyring, signer *trust.StatementSigner, ci *trust.CodeIssuer) {
	for _, c := range kr.content {
		ks.state.AddOwnContentKey(c)
	}
	ks.signer.Store(signer)
	ks.issuer.Store(ci)
	if f := ks.federation(); f != nil {
		f.KeysChanged(ctx)
	}
}

// installIssuer makes the code issuer and statement signer for the
// current active key and content key, as the content-key epoch moves on.
// Callers hold ks.mu.
func (ks *keySchedule) installIssuer(ctx context.Context, now time.Time) error {
	signer, ci, err := ks.newIssuer(ks.kr, now)
	if err != nil {
		return err
	}
	ks.install(ctx, ks.kr, signer, ci)
	return nil
}

// republish signs and commits a new keyset version over unchanged keys (a
// keyset nearing expiry, a new trust list). Callers hold ks.mu.
func (ks *keySchedule) republish(ctx context.Context, now time.Time) error {
	return ks.commitKeys(ctx, ks.beginKeys(now))
}

// keysetPublisher is a Federation that can publish the node's keyset and
// wait until the federation holds it.
type keysetPublisher interface {
	PublishKeyset(ctx context.Context, raw string) error
}

// PublishKeyset puts the node's current keyset in the federation's state
// bucket and returns once JetStream acknowledged it. raw is the keyset
// the caller means; the one published is the node's newest, which is raw
// or a later one, never an older one (putKeyset).
func (l *Link) PublishKeyset(ctx context.Context, raw string) error {
	_, err := l.putKeyset(ctx)
	return err
}

// hasPeers reports whether the trust list names another province that
// could verify this node's codes.
func (ks *keySchedule) hasPeers() bool {
	tl := ks.state.TrustList()
	if tl == nil {
		return false
	}
	for id, m := range tl.Members {
		if id != ks.province && m.Status != trust.MemberRemoved {
			return true
		}
	}
	return false
}

// publishNextKey adds a next signing key, commits it and publishes the
// keyset naming it, waiting for the federation's acknowledgement, so that
// the rotation that follows activates a key peers already hold. Without a
// federation connection, or when publishing fails, it refuses: the new key
// (if committed) stays next and the active key keeps signing. Callers
// hold ks.mu.
func (ks *keySchedule) publishNextKey(ctx context.Context, now time.Time, actor string) error {
	pub, ok := ks.federation().(keysetPublisher)
	if !ok {
		return Errorf(EConflict, "no next signing key was published ahead and this node is not connected to the "+
			"federation, so peers could not verify codes of a new key; rotate again once connected, or let the scheduled rotation run")
	}
	kc := ks.beginKeys(now)
	if err := ks.addSignKey(kc, trust.KeyNext, now); err != nil {
		return err
	}
	kc.audit(ks.auditEntry(actor, "key.next", kc.kr.next().row.KID, nil))
	if err := ks.commitKeys(ctx, kc); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, keysetPublishTimeout)
	defer cancel()
	if err := pub.PublishKeyset(pctx, ks.keyset()); err != nil {
		ks.log.Warn("rotation refused: the next signing key could not be published", "err", err)
		return Errorf(EUnavailable, "the new signing key could not be published to the federation, so it was not "+
			"activated (it is published as next; the active key keeps signing): rotate again once the federation is reachable")
	}
	return nil
}
