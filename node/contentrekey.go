package node

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// A member the trust list suspends or removes is granted nothing more
// (Link.grant), but it holds the content keys it was granted — this
// epoch's and, published ahead, the next one's — and could read the
// masked contents of every code issued under them until they expire. So
// when the trust list in force takes a member out of good standing, the
// node starts new content keys for this epoch and the next at once,
// granted only to the members in good standing, and issues new codes
// under them. Codes issued before stay readable by whoever holds their
// key, the suspended member included: they were issued while it was
// trusted. A reinstated member is granted the live keys again.
//
// The members the current keys were made for (the audience) are kept in
// the database with the keys, so a node that was down when the list
// changed starts new keys when it starts, and one that already did does
// not do it again.

// metaContentAudience is the meta key of the audience: the sorted,
// comma-separated ids of the members in good standing when the current
// content keys were last checked.
const metaContentAudience = "content_key.audience"

// maxOwnContentKeys bounds the node's own live content keys: every grant
// carries all of them (trust.MaxGrantKeys). Each new key started for a
// suspension keeps the key it replaces until that expires; a new key that
// would pass the bound waits, logged, until older keys expire (only dozens
// of suspensions within one code lifetime can reach it).
const maxOwnContentKeys = trust.MaxGrantKeys

// errTooManyContentKeys refuses a new content key beyond maxOwnContentKeys.
var errTooManyContentKeys = errors.New("too many live content keys")

// currentContentKey returns the content key codes of epoch are issued
// under: the newest generation of that epoch's keys, or nil.
func (kr *keyring) currentContentKey(province, epoch string) *trust.ContentKey {
	base := trust.ContentKeyID(province, epoch)
	var cur *trust.ContentKey
	best := int64(-1)
	for i := range kr.content {
		if gen, ok := contentKeyGen(kr.content[i].ID, base); ok && gen > best {
			cur, best = &kr.content[i], gen
		}
	}
	return cur
}

// contentKeyGen is the generation of content key id among the keys of
// an epoch named base: 0 for base itself, n for "base.n" (n >= 1).
func contentKeyGen(id, base string) (int64, bool) {
	if id == base {
		return 0, true
	}
	rest, ok := strings.CutPrefix(id, base+".")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != rest {
		return 0, false
	}
	return n, true
}

// goodStanding is the set of members, this province aside, that tl lists
// as active: those granted content keys.
func goodStanding(tl *trust.ParsedTrustList, self string) map[string]bool {
	out := map[string]bool{}
	for id, m := range tl.Members {
		if id != self && m.Status == trust.MemberActive {
			out[id] = true
		}
	}
	return out
}

// loadAudience reads the audience committed with the keys. A node that
// has none (it predates this, or never held a trust list) counts every
// member the list names, whatever its status, as one that may hold the
// current keys.
func (ks *keySchedule) loadAudience(ctx context.Context) error {
	v, err := ks.db.GetMeta(ctx, metaContentAudience)
	if err = ignoreNotFound(err); err != nil || v == "" {
		ks.audience = nil
		return err
	}
	ks.audience = map[string]bool{}
	for _, id := range strings.Split(v, ",") {
		if id != "" {
			ks.audience[id] = true
		}
	}
	return nil
}

// checkAudience compares the members in good standing under the trust
// list in force with the audience of the current content keys. If a
// member left it, it starts new keys in kc (rekeyContent) and records the
// new audience with them; if members only joined it (reinstated, added),
// kc.joined holds the new audience for settleAudience, and the keys and
// keyset stay as they are. Callers hold ks.mu.
func (ks *keySchedule) checkAudience(kc *keyChange) error {
	tl := ks.state.TrustList()
	if tl == nil {
		return nil
	}
	now := goodStanding(tl, ks.province)
	prev := ks.audience
	if prev == nil {
		prev = map[string]bool{}
		for id := range tl.Members {
			if id != ks.province {
				prev[id] = true
			}
		}
	}
	var lapsed []string
	for id := range prev {
		if !now[id] {
			lapsed = append(lapsed, id)
		}
	}
	slices.Sort(lapsed)
	if len(lapsed) > 0 {
		if err := ks.rekeyContent(kc); errors.Is(err, errTooManyContentKeys) {
			ks.log.Error("a member left good standing but no new content key was started: the node holds as many live content keys "+
				"as a grant can carry; codes are issued under the current key, which that member holds, until older keys expire",
				"members", lapsed, "trustlist_version", tl.Version, "limit", maxOwnContentKeys)
			return nil // the audience is kept, so the next tick tries again
		} else if err != nil {
			return err
		}
		kc.lapsed, kc.lapsedVersion = lapsed, tl.Version
		id, _, _ := epochOf(kc.now, ks.cfg.ContentEpoch)
		kc.audit(ks.auditEntry("system", actionContentRekey, kc.kr.currentContentKey(ks.province, id).ID,
			map[string]any{"members": lapsed, "trustlist_version": tl.Version}))
		if kc.w.Meta == nil {
			kc.w.Meta = map[string]string{}
		}
		kc.w.Meta[metaContentAudience] = encodeAudience(now)
		kc.audience = now
		return nil
	}
	if ks.audience == nil || !maps.Equal(now, ks.audience) {
		kc.joined = now
	}
	return nil
}

func encodeAudience(members map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(members)), ",")
}

// memberGranter is a Federation that can grant the live content keys to
// members at once (Link.GrantTo).
type memberGranter interface {
	GrantTo(ids []string)
}

// settleAudience records an audience that members only joined (kc.joined)
// and has the live content keys granted to them at once: a reinstated
// member's keyset has not changed, so nothing else would grant to it
// before the next republication. Losing the record is harmless: the next
// check finds the same members joining. Callers hold ks.mu.
func (ks *keySchedule) settleAudience(ctx context.Context, kc *keyChange) {
	if kc.joined == nil {
		return
	}
	if err := ks.db.SetMeta(ctx, metaContentAudience, encodeAudience(kc.joined)); err != nil {
		ks.log.Warn("the members content keys are granted to were not recorded; checked again at the next tick", "err", err)
		return
	}
	var joined []string
	for id := range kc.joined {
		if !ks.audience[id] {
			joined = append(joined, id)
		}
	}
	ks.audience = kc.joined
	if g, ok := ks.federation().(memberGranter); ok && len(joined) > 0 {
		g.GrantTo(joined)
	}
}

// rekeyContent starts new content keys in kc, one generation above the
// current ones (or at the first a restore allows, firstGen, if higher),
// for kc's epoch and the next. The replaced key of kc's
// epoch is kept until it expires (codes were issued under it); the
// replaced next key never encrypted a code and is dropped. Callers hold
// ks.mu.
func (ks *keySchedule) rekeyContent(kc *keyChange) error {
	if len(kc.kr.content)+2 > maxOwnContentKeys { // room for both, as if the next key were not replaced
		return errTooManyContentKeys
	}
	epoch := ks.cfg.ContentEpoch
	for i, t := range []time.Time{kc.now, kc.now.Add(epoch)} {
		id, _, _ := epochOf(t, epoch)
		gen := ks.firstGen(t)
		if old := kc.kr.currentContentKey(ks.province, id); old != nil {
			held, _ := contentKeyGen(old.ID, trust.ContentKeyID(ks.province, id))
			gen = max(gen, held+1)
			if i == 1 {
				kc.drop(old.ID)
				kc.kr.content = slices.DeleteFunc(kc.kr.content, func(ck trust.ContentKey) bool { return ck.ID == old.ID })
			}
		}
		if err := ks.addContentKey(kc, t, gen); err != nil {
			return err
		}
	}
	return nil
}

// addContentKey makes a content key of t's epoch of generation gen in kc.
func (ks *keySchedule) addContentKey(kc *keyChange, t time.Time, gen int64) error {
	row, err := newContentKeyRow(ks.kek, ks.province, t, ks.cfg.ContentEpoch, gen)
	if err != nil {
		return err
	}
	kc.insert(row)
	k, err := ks.kek.Open(keyAAD(row.KID), row.Sealed)
	if err != nil {
		return err
	}
	kc.kr.content = append(kc.kr.content, trust.ContentKey{ID: row.KID, Key: k, NotBefore: row.NotBefore, Expires: row.Expires})
	return nil
}

// committedAudience takes over the audience kc recorded, once committed,
// and reports the new content keys it started. Callers hold ks.mu.
func (ks *keySchedule) committedAudience(kc *keyChange, current string) {
	if kc.audience != nil {
		ks.audience = kc.audience
	}
	if kc.compromised != "" && kc.compromised != "-" {
		ks.metrics.ContentRekeys.Inc()
		ks.log.Info("new content key started: whoever took the compromised signing key cannot read codes issued from now on",
			"content_key", current, "compromised", kc.compromised)
	}
	if kc.requested {
		ks.metrics.ContentRekeys.Inc()
		ks.log.Info("new content key started at an admin's request: whoever holds the replaced ones cannot read codes issued from now on",
			"content_key", current)
	}
	if len(kc.lapsed) == 0 {
		return
	}
	ks.metrics.ContentRekeys.Inc()
	ks.log.Info("new content key started: members no longer in good standing cannot read codes issued from now on",
		"content_key", current, "members", kc.lapsed, "trustlist_version", kc.lapsedVersion)
}
