package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// maintainKeys applies the key schedule at kc's time to kc: publish the
// next signing key ahead of time, promote it when due, drop keys whose
// codes have all expired, and keep content keys for this epoch and the
// next (after a restore, at a generation no node made: restorecontent.go).
// Nothing is written until commitKeys.
func (ks *keySchedule) maintainKeys(kc *keyChange) error {
	kr, now := kc.kr, kc.now
	rot, ahead := ks.cfg.Rotation, ks.cfg.PublishAhead
	act := kr.active()
	if act != nil && kr.next() == nil && !now.Before(act.row.NotBefore.Add(rot-ahead)) {
		nbf := act.row.NotBefore.Add(rot)
		if nbf.Before(now) {
			nbf = now
		}
		if err := ks.addSignKey(kc, trust.KeyNext, nbf); err != nil {
			return err
		}
	}
	if act == nil || !now.Before(act.row.NotBefore.Add(rot)) {
		if err := ks.promote(kc); err != nil {
			return err
		}
		kc.audit(ks.auditEntry("system", "key.promote", kr.active().row.KID, nil))
	}
	keep := kr.sign[:0]
	for _, k := range kr.sign {
		st := trust.KeyState(k.row.State)
		if (st == trust.KeyRetired || st == trust.KeyCompromised) && now.After(k.row.Expires.Add(trust.ClockSkew)) {
			kc.drop(k.row.KID)
			continue
		}
		keep = append(keep, k)
	}
	kr.sign = keep
	for _, t := range []time.Time{now, now.Add(ks.cfg.ContentEpoch)} {
		id, _, _ := epochOf(t, ks.cfg.ContentEpoch)
		if kr.currentContentKey(ks.province, id) != nil {
			continue
		}
		if err := ks.addContentKey(kc, t, ks.firstGen(t)); err != nil {
			return err
		}
	}
	live := kr.content[:0]
	for _, ck := range kr.content {
		if now.After(ck.Expires.Add(trust.ClockSkew)) {
			kc.drop(ck.ID)
			continue
		}
		live = append(live, ck)
	}
	kr.content = live
	return nil
}

// addSignKey adds a new signing key in state, starting at nbf, to kc.
func (ks *keySchedule) addSignKey(kc *keyChange, state trust.KeyState, nbf time.Time) error {
	exp := nbf.Add(ks.cfg.Rotation + trust.MaxCodeLifetime)
	row, priv, err := newECKeyRow(ks.kek, kindSign, string(state), nbf, exp, kc.now)
	if err != nil {
		return err
	}
	kc.insert(row)
	kc.kr.sign = append(kc.kr.sign, &signKey{row: row, priv: priv})
	return nil
}

// promote retires kc's active key and makes the next key active, creating
// one if there is none (the node was down past its rotation time, or the
// active key was compromised).
func (ks *keySchedule) promote(kc *keyChange) error {
	now := kc.now
	if act := kc.kr.active(); act != nil {
		act.row.State, act.row.RetiredAt = string(trust.KeyRetired), now
		kc.update(act.row)
	}
	if nx := kc.kr.next(); nx != nil {
		// It becomes active now; its expiry still bounds every code it signs.
		nx.row.State, nx.row.NotBefore = string(trust.KeyActive), minTime(nx.row.NotBefore, now)
		nx.row.Expires = nx.row.NotBefore.Add(ks.cfg.Rotation + trust.MaxCodeLifetime)
		kc.update(nx.row)
	} else if err := ks.addSignKey(kc, trust.KeyActive, now); err != nil {
		return err
	}
	kc.rotations++
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// changeKeys runs an admin's change to the signing keys (action: its
// audit action, for the refusal of an operator): under ks.mu,
// refused before anything is committed when no peer could accept the
// resulting keyset, and committed with a newly signed keyset in one
// transaction. prepare, if set, runs first, under the same lock.
func (ks *keySchedule) changeKeys(ctx context.Context, p Principal, action string, prepare func(now time.Time) error, change func(kc *keyChange) error) error {
	if err := permitAdmin(ctx, ks.db, ks.now(), p, action); err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.canPublishKeyset(); err != nil {
		return err
	}
	now := ks.now()
	if prepare != nil {
		if err := prepare(now); err != nil {
			return err
		}
	}
	kc := ks.beginKeys(now)
	if err := change(kc); err != nil {
		return err
	}
	return ks.commitKeys(ctx, kc)
}

// RotateKeys retires the active signing key now and activates the next.
// A node with peers never activates a key they have not been offered:
// when no next key was published ahead, it publishes one first and waits
// for the federation's acknowledgement, and refuses if it cannot. Admins
// only (EAdminRequired for another operator, audited: admin.go).
func (n *Node) RotateKeys(ctx context.Context, p Principal) error {
	return n.keys.rotate(ctx, p)
}

// rotate implements Node.RotateKeys.
func (ks *keySchedule) rotate(ctx context.Context, p Principal) error {
	prepare := func(now time.Time) error {
		if ks.kr.next() != nil || !ks.hasPeers() {
			return nil
		}
		return ks.publishNextKey(ctx, now, p.Actor())
	}
	return ks.changeKeys(ctx, p, "key.rotate", prepare, func(kc *keyChange) error {
		if err := ks.promote(kc); err != nil {
			return err
		}
		kc.audit(ks.auditEntry(p.Actor(), "key.rotate", kc.kr.active().row.KID, nil))
		return nil
	})
}

// CompromiseKey marks a signing key compromised: every code it signed
// fails verification everywhere once peers have the new keyset. If it was
// the active key, a new one takes over at once: a compromised key must
// stop signing even when no next key was published or the federation is
// unreachable. A key compromised already is refused (EConflict). Admins
// only: it withdraws codes province-wide.
func (n *Node) CompromiseKey(ctx context.Context, p Principal, kid string) error {
	return n.keys.compromise(ctx, p, kid)
}

// compromise implements Node.CompromiseKey.
func (ks *keySchedule) compromise(ctx context.Context, p Principal, kid string) error {
	return ks.changeKeys(ctx, p, "key.compromise", nil, func(kc *keyChange) error {
		var target *signKey
		for _, k := range kc.kr.sign {
			if k.row.KID == kid {
				target = k
			}
		}
		if target != nil && target.row.State == string(trust.KeyCompromised) || target == nil && ks.lostCompromised(kc, kid) {
			// Again would start new content keys again, each spending
			// one of the live keys a grant carries.
			return Errorf(EConflict, "signing key %s is compromised already: nothing to do", kid)
		}
		if target == nil {
			if ks.compromiseLost(kc, kid) {
				kc.audit(ks.auditEntry(p.Actor(), "key.compromise", kid, map[string]any{"kept_public": true}))
				// The machine it was made on held the content keys of
				// its days beside it.
				return ks.rekeyForCompromise(kc, kid)
			}
			return Errorf(ENotFound, "no signing key %s", kid)
		}
		if err := ks.markCompromised(kc, target); err != nil {
			return err
		}
		kc.audit(ks.auditEntry(p.Actor(), "key.compromise", kid, nil))
		return nil
	})
}

// RekeyContent starts new content keys for this epoch and the next at
// once, without touching the signing keys: for a content key suspected
// leaked alone (a copy of a grant, a replica's store). Codes issued from
// now on are encrypted under the new key, granted to the members in
// good standing and the province's replicas as a compromise's are
// (rekeyContent); codes issued before keep verifying, and stay readable
// by whoever holds their key. It returns the id of the content key new
// codes use. Admins only, audited (key.content_rekey under the admin).
func (n *Node) RekeyContent(ctx context.Context, p Principal) (string, error) {
	return n.keys.rekeyContentNow(ctx, p)
}

// rekeyContentNow implements Node.RekeyContent.
func (ks *keySchedule) rekeyContentNow(ctx context.Context, p Principal) (string, error) {
	var current string
	err := ks.changeKeys(ctx, p, actionContentRekey, nil, func(kc *keyChange) error {
		if err := ks.rekeyContent(kc); errors.Is(err, errTooManyContentKeys) {
			return Errorf(ELimitReached, "the node holds as many live content keys (%d) as a grant can carry: a new one can "+
				"be started once older ones expire (keys.content_epoch after the last code they encrypted)", maxOwnContentKeys)
		} else if err != nil {
			return err
		}
		id, _, _ := epochOf(kc.now, ks.cfg.ContentEpoch)
		current = kc.kr.currentContentKey(ks.province, id).ID
		kc.requested = true
		kc.audit(ks.auditEntry(p.Actor(), actionContentRekey, current, nil))
		return nil
	})
	if err != nil {
		return "", err
	}
	return current, nil
}

// actionContentRekey is the audit action of new content keys started at
// once: by an admin (RekeyContent), or by the node itself ("system") for
// a compromised signing key or a member out of good standing.
const actionContentRekey = "key.content_rekey"

// markCompromised marks k compromised in kc; if it was the active key, a
// new one takes over (promote). A signing key is compromised when the key
// store was read, and the content keys lie beside it under the same KEK
// (this epoch's, and the next one's published ahead): new content keys
// are started too, once a change, so that whoever took the signing key
// cannot read the codes issued from now on (seed rule 5). Codes issued
// before stay readable by whoever holds their key. Callers hold ks.mu.
func (ks *keySchedule) markCompromised(kc *keyChange, k *signKey) error {
	wasActive := k.row.State == string(trust.KeyActive)
	k.row.State = string(trust.KeyCompromised)
	kc.update(k.row)
	if err := ks.rekeyForCompromise(kc, k.row.KID); err != nil {
		return err
	}
	if wasActive {
		return ks.promote(kc)
	}
	return nil
}

// rekeyForCompromise starts new content keys in kc for the compromise of
// the signing key kid, once a change (markCompromised). Callers hold
// ks.mu.
func (ks *keySchedule) rekeyForCompromise(kc *keyChange, kid string) error {
	if kc.compromised != "" {
		return nil
	}
	kc.compromised = kid
	if err := ks.rekeyContent(kc); errors.Is(err, errTooManyContentKeys) {
		ks.log.Error("a signing key was compromised but no new content key was started: the node holds as many live "+
			"content keys as a grant can carry; codes are issued under the current key until older keys expire",
			"kid", kid, "limit", maxOwnContentKeys)
		kc.compromised = "-" // not again in this change
	} else if err != nil {
		return err
	} else {
		id, _, _ := epochOf(kc.now, ks.cfg.ContentEpoch)
		kc.audit(ks.auditEntry("system", actionContentRekey, kc.kr.currentContentKey(ks.province, id).ID,
			map[string]any{"compromised": kid}))
	}
	return nil
}

// KeyInfo describes one of the node's signing keys, for operators.
type KeyInfo struct {
	KID       string    `json:"kid"`
	State     string    `json:"state"`
	NotBefore time.Time `json:"nbf"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	Expires   time.Time `json:"exp"`
	// KeptPublic marks a key a restore lost, whose public half the
	// keyset keeps until it expires (restorekeys.go): the node cannot
	// sign with it, and may mark it compromised.
	KeptPublic bool `json:"kept_public,omitzero"`
}

// Keys lists the node's signing keys, and those a restore lost whose
// public halves it keeps.
func (n *Node) Keys(p Principal) ([]KeyInfo, error) {
	return n.keys.list(p)
}

// list implements Node.Keys.
func (ks *keySchedule) list(p Principal) ([]KeyInfo, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	out := make([]KeyInfo, 0, len(ks.kr.sign)+len(ks.lost))
	for _, k := range ks.kr.sign {
		out = append(out, KeyInfo{KID: k.row.KID, State: k.row.State, NotBefore: k.row.NotBefore, RetiredAt: k.row.RetiredAt, Expires: k.row.Expires})
	}
	for _, l := range ks.lost {
		e := l.entry
		info := KeyInfo{KID: l.kid, State: string(e.State), NotBefore: time.Unix(e.NotBefore, 0).UTC(),
			Expires: time.Unix(e.Expires, 0).UTC(), KeptPublic: true}
		if e.RetiredAt != 0 {
			info.RetiredAt = time.Unix(e.RetiredAt, 0).UTC()
		}
		out = append(out, info)
	}
	return out, nil
}

// signingRoot is the root key kc's keyset must be signed with: the one
// the trust list names for this province. When the operators have listed
// the next root (a root rotation), it becomes the active root in kc and
// the old one is retired. A province the list does not name yet signs
// with its active root. Callers hold ks.mu.
func (ks *keySchedule) signingRoot(kc *keyChange) (*ecdsa.PrivateKey, error) {
	kr := kc.kr
	tl := ks.state.TrustList()
	if tl == nil {
		return kr.root, nil
	}
	m, listed := tl.Members[ks.province]
	if !listed {
		return kr.root, nil
	}
	named := kr.rootByKID(m.RootKID)
	if named == nil {
		return nil, fmt.Errorf("the trust list names root key %s for %s, which this node does not hold", m.RootKID, ks.province)
	}
	if named.row.State == "active" {
		return named.priv, nil
	}
	for i := range kr.roots {
		r := &kr.roots[i]
		if r.row.State == "active" {
			r.row.State, r.row.RetiredAt = "retired", kc.now
			kc.update(r.row)
		}
	}
	named.row.State, named.row.RetiredAt = "active", time.Time{}
	kc.update(named.row)
	kr.root = named.priv
	kc.rootKID = named.row.KID
	kc.audit(ks.auditEntry("system", "key.root_activate", named.row.KID, map[string]any{"trustlist_version": tl.Version}))
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
// its keyset with it and retires the old root. Admins only.
func (n *Node) RotateRoot(ctx context.Context, p Principal) (RootRotation, error) {
	return n.keys.rotateRoot(ctx, p)
}

// rotateRoot implements Node.RotateRoot.
func (ks *keySchedule) rotateRoot(ctx context.Context, p Principal) (RootRotation, error) {
	if err := permitAdmin(ctx, ks.db, ks.now(), p, "key.root_next"); err != nil {
		return RootRotation{}, err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, r := range ks.kr.roots {
		if r.row.State == "next" {
			return RootRotation{KID: r.row.KID, JWK: r.row.Public}, nil
		}
	}
	now := ks.now()
	row, priv, err := newECKeyRow(ks.kek, kindRoot, "next", now, now.Add(100*365*24*time.Hour), now)
	if err != nil {
		return RootRotation{}, internal("rotate root", err)
	}
	kc := ks.beginKeys(now)
	kc.insert(row)
	kc.kr.roots = append(kc.kr.roots, rootKey{row: row, priv: priv})
	kc.audit(ks.auditEntry(p.Actor(), "key.root_next", row.KID, nil))
	if err := ks.db.ChangeKeys(ctx, kc.w); err != nil {
		return RootRotation{}, internal("rotate root", err)
	}
	ks.kr.adopt(kc.kr)
	return RootRotation{KID: row.KID, JWK: row.Public}, nil
}

// TrustListChanged is told that a new trust list was applied. If it
// names a different root for this province, the node's own keyset (which
// the trust state then dropped) is signed again with that root. If it
// took a member out of good standing, new content keys are started at
// once, which that member is never granted (contentrekey.go). It is
// idempotent: a list already acted on changes nothing.
func (n *Node) TrustListChanged(ctx context.Context) error {
	return n.keys.trustListChanged(ctx)
}

// trustListChanged implements Node.TrustListChanged.
func (ks *keySchedule) trustListChanged(ctx context.Context) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	tl := ks.state.TrustList()
	if tl == nil {
		return nil
	}
	m, listed := tl.Members[ks.province]
	active, err := trust.Thumbprint(&ks.kr.root.PublicKey)
	if err != nil {
		return err
	}
	kc := ks.beginKeys(ks.now())
	if err := ks.checkAudience(kc); err != nil {
		return err
	}
	if kc.changed() || ks.state.Keyset(ks.province) == nil || (listed && m.RootKID != active) {
		if err := ks.commitKeys(ctx, kc); err != nil {
			return err
		}
	}
	ks.settleAudience(ctx, kc)
	return nil
}

// canPublishKeyset refuses a key change that no peer could accept, before
// anything is committed: a province the trust list removed, or one whose
// listed root this node does not hold. Callers hold ks.mu.
func (ks *keySchedule) canPublishKeyset() error {
	tl := ks.state.TrustList()
	if tl == nil {
		return nil
	}
	m, listed := tl.Members[ks.province]
	switch {
	case !listed:
		return nil
	case m.Status == trust.MemberRemoved:
		return Errorf(EConflict, "province %s was removed from the federation (trust list v%d): its keys cannot change", ks.province, tl.Version)
	case ks.kr.rootByKID(m.RootKID) == nil:
		return Errorf(EConflict, "the trust list names root key %s for %s, which this node does not hold", m.RootKID, ks.province)
	}
	return nil
}
