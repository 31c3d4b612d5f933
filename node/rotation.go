package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// maintainKeys applies the key schedule at now: publish the next signing
// key ahead of time, promote it when due, drop keys whose codes have all
// expired, and keep content keys for this epoch and the next. It reports
// whether anything changed.
func (n *Node) maintainKeys(ctx context.Context, now time.Time) (bool, error) {
	kr := n.keys
	changed := false
	rot, ahead := n.cfg.Keys.Rotation, n.cfg.Keys.PublishAhead
	act := kr.active()
	if act != nil && kr.next() == nil && !now.Before(act.row.NotBefore.Add(rot-ahead)) {
		nbf := act.row.NotBefore.Add(rot)
		if nbf.Before(now) {
			nbf = now
		}
		if err := n.addSignKey(ctx, trust.KeyNext, nbf, now); err != nil {
			return false, err
		}
		changed = true
	}
	if act == nil || !now.Before(act.row.NotBefore.Add(rot)) {
		if err := n.promote(ctx, now); err != nil {
			return false, err
		}
		changed = true
	}
	keep := kr.sign[:0]
	for _, k := range kr.sign {
		st := trust.KeyState(k.row.State)
		if (st == trust.KeyRetired || st == trust.KeyCompromised) && now.After(k.row.Expires.Add(trust.ClockSkew)) {
			if err := n.db.DeleteKey(ctx, k.row.KID); err != nil {
				return false, err
			}
			changed = true
			continue
		}
		keep = append(keep, k)
	}
	kr.sign = keep
	for _, t := range []time.Time{now, now.Add(n.cfg.Keys.ContentEpoch)} {
		id, _, _ := epochOf(t, n.cfg.Keys.ContentEpoch)
		if n.contentKey(trust.ContentKeyID(n.cfg.Province, id)) != nil {
			continue
		}
		row, err := newContentKeyRow(n.kek, n.cfg.Province, t, n.cfg.Keys.ContentEpoch)
		if err != nil {
			return false, err
		}
		if err := n.db.InsertKey(ctx, row); err != nil {
			return false, err
		}
		k, _ := n.kek.Open(keyAAD(row.KID), row.Sealed)
		kr.content = append(kr.content, trust.ContentKey{ID: row.KID, Key: k, NotBefore: row.NotBefore, Expires: row.Expires})
		changed = true
	}
	live := kr.content[:0]
	for _, ck := range kr.content {
		if now.After(ck.Expires.Add(trust.ClockSkew)) {
			if err := n.db.DeleteKey(ctx, ck.ID); err != nil {
				return false, err
			}
			changed = true
			continue
		}
		live = append(live, ck)
	}
	kr.content = live
	return changed, nil
}

func (n *Node) contentKey(id string) *trust.ContentKey {
	for i := range n.keys.content {
		if n.keys.content[i].ID == id {
			return &n.keys.content[i]
		}
	}
	return nil
}

func (n *Node) addSignKey(ctx context.Context, state trust.KeyState, nbf, now time.Time) error {
	exp := nbf.Add(n.cfg.Keys.Rotation + trust.MaxCodeLifetime)
	row, priv, err := newECKeyRow(n.kek, kindSign, string(state), nbf, exp, now)
	if err != nil {
		return err
	}
	if err := n.db.InsertKey(ctx, row); err != nil {
		return err
	}
	n.keys.sign = append(n.keys.sign, &signKey{row: row, priv: priv})
	return nil
}

// promote retires the active key and makes the next key active, creating
// one if there is none (the node was down past its rotation time, or a
// rotation was asked for early).
func (n *Node) promote(ctx context.Context, now time.Time) error {
	if act := n.keys.active(); act != nil {
		act.row.State, act.row.RetiredAt = string(trust.KeyRetired), now
		if err := n.db.UpdateKey(ctx, act.row.KID, act.row.State, now, act.row.Expires); err != nil {
			return err
		}
	}
	if nx := n.keys.next(); nx != nil {
		// It becomes active now; its expiry still bounds every code it signs.
		nx.row.State, nx.row.NotBefore = string(trust.KeyActive), minTime(nx.row.NotBefore, now)
		nx.row.Expires = nx.row.NotBefore.Add(n.cfg.Keys.Rotation + trust.MaxCodeLifetime)
		if err := n.db.UpdateKey(ctx, nx.row.KID, nx.row.State, time.Time{}, nx.row.Expires); err != nil {
			return err
		}
	} else if err := n.addSignKey(ctx, trust.KeyActive, now, now); err != nil {
		return err
	}
	n.metrics.KeyRotations.Inc()
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// changeKeys runs an operator's change to the signing keys: under keyMu,
// refused before anything is committed when no peer could accept the
// resulting keyset, and followed by a newly signed keyset.
func (n *Node) changeKeys(ctx context.Context, p Principal, change func(now time.Time) error) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	if err := n.canPublishKeyset(); err != nil {
		return err
	}
	now := n.now()
	if err := change(now); err != nil {
		return err
	}
	return n.republish(ctx, now)
}

// RotateKeys retires the active signing key now and activates the next.
func (n *Node) RotateKeys(ctx context.Context, p Principal) error {
	return n.changeKeys(ctx, p, func(now time.Time) error {
		if err := n.promote(ctx, now); err != nil {
			return err
		}
		n.audit(ctx, "operator", "key.rotate", n.keys.active().row.KID, nil)
		return nil
	})
}

// CompromiseKey marks a signing key compromised: every code it signed
// fails verification everywhere once peers have the new keyset. If it was
// the active key, a new one takes over at once.
func (n *Node) CompromiseKey(ctx context.Context, p Principal, kid string) error {
	return n.changeKeys(ctx, p, func(now time.Time) error {
		var target *signKey
		for _, k := range n.keys.sign {
			if k.row.KID == kid {
				target = k
			}
		}
		if target == nil {
			return Errorf(ENotFound, "no signing key %s", kid)
		}
		wasActive := target.row.State == string(trust.KeyActive)
		target.row.State = string(trust.KeyCompromised)
		if err := n.db.UpdateKey(ctx, kid, target.row.State, target.row.RetiredAt, target.row.Expires); err != nil {
			return err
		}
		if wasActive {
			if err := n.promote(ctx, now); err != nil {
				return err
			}
		}
		n.audit(ctx, "operator", "key.compromise", kid, nil)
		return nil
	})
}

// KeyInfo describes one of the node's signing keys, for operators.
type KeyInfo struct {
	KID       string    `json:"kid"`
	State     string    `json:"state"`
	NotBefore time.Time `json:"nbf"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	Expires   time.Time `json:"exp"`
}

// Keys lists the node's signing keys.
func (n *Node) Keys(p Principal) ([]KeyInfo, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	out := make([]KeyInfo, 0, len(n.keys.sign))
	for _, k := range n.keys.sign {
		out = append(out, KeyInfo{KID: k.row.KID, State: k.row.State, NotBefore: k.row.NotBefore, RetiredAt: k.row.RetiredAt, Expires: k.row.Expires})
	}
	return out, nil
}

// republish signs a new keyset version from the keyring, installs it in
// the node's trust state, rebuilds the code issuer and hands the keyset
// and content keys to the federation. Callers hold keyMu.
func (n *Node) republish(ctx context.Context, now time.Time) error {
	ver, err := n.metaUint(ctx, "keyset_version")
	if err != nil {
		return err
	}
	ks := trust.Keyset{Issuer: n.cfg.Province, Version: ver + 1, IssuedAt: now.Unix(),
		Expires: now.Add(2 * n.cfg.Keys.Rotation).Unix()}
	for _, k := range n.keys.sign {
		e, err := trust.KeysetEntryFor(k.trustKey())
		if err != nil {
			return err
		}
		ks.Keys = append(ks.Keys, e)
	}
	if ks.Enc, err = trust.EncJWK(&n.keys.enc.PublicKey); err != nil {
		return err
	}
	root, err := n.signingRoot(ctx, now)
	if err != nil {
		return err
	}
	raw, err := trust.SignKeyset(root, ks)
	if err != nil {
		return err
	}
	if err := n.state.ApplyKeyset(n.cfg.Province, raw, now); err != nil {
		return fmt.Errorf("own keyset refused by own trust state: %w", err)
	}
	if err := n.db.SetMeta(ctx, "keyset_version", strconv.FormatUint(ks.Version, 10)); err != nil {
		return err
	}
	if err := n.db.SetMeta(ctx, "keyset", raw); err != nil {
		return err
	}
	n.keysetRaw.Store(&raw)
	n.keysetExp = time.Unix(ks.Expires, 0)
	return n.installIssuer(ctx, now)
}

// installIssuer makes the code issuer and statement signer for the
// current active key and content key, and gives the own content keys to
// the trust state. Callers hold keyMu.
func (n *Node) installIssuer(ctx context.Context, now time.Time) error {
	act := n.keys.active()
	if act == nil {
		return fmt.Errorf("no active signing key")
	}
	signer, err := trust.NewStatementSigner(act.priv)
	if err != nil {
		return err
	}
	id, _, _ := epochOf(now, n.cfg.Keys.ContentEpoch)
	ck := n.contentKey(trust.ContentKeyID(n.cfg.Province, id))
	if ck == nil {
		return fmt.Errorf("no content key for the current epoch")
	}
	for _, c := range n.keys.content {
		n.state.AddOwnContentKey(c)
	}
	ci, err := trust.NewCodeIssuer(n.cfg.Province, signer, act.row.Expires, *ck)
	if err != nil {
		return err
	}
	n.signer.Store(signer)
	n.issuer.Store(ci)
	if f := n.federation(); f != nil {
		f.KeysChanged(ctx)
	}
	return nil
}

// signingRoot is the root key the keyset must be signed with: the one the
// trust list names for this province. When the operators have listed the
// next root (a root rotation), it becomes the active root here and the
// old one is retired. A province the list does not name yet signs with its
// active root. Callers hold keyMu.
func (n *Node) signingRoot(ctx context.Context, now time.Time) (*ecdsa.PrivateKey, error) {
	kr := n.keys
	tl := n.state.TrustList()
	if tl == nil {
		return kr.root, nil
	}
	m, listed := tl.Members[n.cfg.Province]
	if !listed {
		return kr.root, nil
	}
	named := kr.rootByKID(m.RootKID)
	if named == nil {
		return nil, fmt.Errorf("the trust list names root key %s for %s, which this node does not hold", m.RootKID, n.cfg.Province)
	}
	if named.row.State == "active" {
		return named.priv, nil
	}
	for i := range kr.roots {
		r := &kr.roots[i]
		if r.row.State == "active" {
			r.row.State, r.row.RetiredAt = "retired", now
			if err := n.db.UpdateKey(ctx, r.row.KID, r.row.State, now, r.row.Expires); err != nil {
				return nil, err
			}
		}
	}
	named.row.State = "active"
	if err := n.db.UpdateKey(ctx, named.row.KID, named.row.State, time.Time{}, named.row.Expires); err != nil {
		return nil, err
	}
	kr.root = named.priv
	n.log.Info("root key rotated as the trust list now names it", "root", named.row.KID, "trustlist_version", tl.Version)
	n.audit(ctx, "system", "key.root_activate", named.row.KID, map[string]any{"trustlist_version": tl.Version})
	return kr.root, nil
}

// RootRotation is a new root key waiting for the federation operators.
type RootRotation struct {
	KID string          `json:"kid"`
	JWK json.RawMessage `json:"jwk"`
}

// RotateRoot makes the province's next root key (or returns the one
// already waiting). Nothing changes until the operators publish a trust
// list naming it (hcnode trust propose --set-root); then the node signs
// its keyset with it and retires the old root.
func (n *Node) RotateRoot(ctx context.Context, p Principal) (RootRotation, error) {
	if err := require(p, RoleOperator); err != nil {
		return RootRotation{}, err
	}
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	for _, r := range n.keys.roots {
		if r.row.State == "next" {
			return RootRotation{KID: r.row.KID, JWK: r.row.Public}, nil
		}
	}
	now := n.now()
	row, priv, err := newECKeyRow(n.kek, kindRoot, "next", now, now.Add(100*365*24*time.Hour), now)
	if err != nil {
		return RootRotation{}, internal("rotate root", err)
	}
	if err := n.db.InsertKey(ctx, row); err != nil {
		return RootRotation{}, internal("rotate root", err)
	}
	n.keys.roots = append(n.keys.roots, rootKey{row: row, priv: priv})
	n.audit(ctx, "operator", "key.root_next", row.KID, nil)
	return RootRotation{KID: row.KID, JWK: row.Public}, nil
}

// TrustListChanged is told that a new trust list was applied. If it
// names a different root for this province, the node's own keyset (which
// the trust state then dropped) is signed again with that root.
func (n *Node) TrustListChanged(ctx context.Context) error {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	tl := n.state.TrustList()
	if tl == nil {
		return nil
	}
	m, listed := tl.Members[n.cfg.Province]
	active, err := trust.Thumbprint(&n.keys.root.PublicKey)
	if err != nil {
		return err
	}
	if n.state.Keyset(n.cfg.Province) != nil && (!listed || m.RootKID == active) {
		return nil
	}
	return n.republish(ctx, n.now())
}

// canPublishKeyset refuses a key change that no peer could accept, before
// anything is committed: a province the trust list removed, or one whose
// listed root this node does not hold. Callers hold keyMu.
func (n *Node) canPublishKeyset() error {
	tl := n.state.TrustList()
	if tl == nil {
		return nil
	}
	m, listed := tl.Members[n.cfg.Province]
	switch {
	case !listed:
		return nil
	case m.Status == trust.MemberRemoved:
		return Errorf(EConflict, "province %s was removed from the federation (trust list v%d): its keys cannot change", n.cfg.Province, tl.Version)
	case n.keys.rootByKID(m.RootKID) == nil:
		return Errorf(EConflict, "the trust list names root key %s for %s, which this node does not hold", m.RootKID, n.cfg.Province)
	}
	return nil
}
