package federation

import (
	"time"

	"github.com/hcfed/hcfed/trust"
)

// A member's heartbeat names the revocation seq its node had committed
// when it signed it. Once this node has applied that seq, it holds every
// revocation the member had made by then (trust.State.NoteRevocationSeq),
// and past trust's RevocationsMaxAge without such a heartbeat the
// member's codes verify as revocations_stale: whether this node is cut off
// from NATS, its link to the member is broken, or the member cannot
// publish, a revocation the member made since may be missing here.
//
// The heartbeat that last showed a member's revocations current is cached
// (after the deltas it counts, which the cache writes first), so a node
// restarted while NATS is down keeps the moment it had, not a fresh one
// and not none.

// heartbeatKey is the cache key of a member's heartbeat (Topic.Key's).
func heartbeatKey(p string) string { return p + "." + string(KindHeartbeat) }

// waitingHeartbeat is a member's heartbeat naming a seq not applied yet.
type waitingHeartbeat struct {
	raw []byte
	hb  trust.Heartbeat
}

// heartbeatClaim hands State what p's verified heartbeat hb (raw) says of
// its revocations, and caches hb once the seq it names is applied: now,
// or when heartbeatCovered sees it. Callers hold s.mu.
func (s *Sync) heartbeatClaim(p string, raw []byte, hb trust.Heartbeat) {
	if s.ownsRevocations(p) {
		return // the node's own revocations are always current
	}
	if !s.keysetCurrent(p, hb) {
		return
	}
	w := waitingHeartbeat{raw: raw, hb: hb}
	if s.state.NoteRevocationSeq(p, hb.RevocationSeq, time.Unix(hb.IssuedAt, 0)) {
		s.cacheHeartbeat(p, w)
		return
	}
	s.hbWaiting[p] = w
}

// keysetCurrent reports whether this node holds the keyset p's heartbeat
// hb names, or a later one. A heartbeat naming a newer keyset vouches for
// nothing: that keyset may mark a key compromised, whose codes (signed by
// whoever took the key, and never revoked one by one) this node would
// otherwise accept for as long as p's heartbeats arrive, up to the held
// keyset's expiry. Counting no such heartbeat, p's codes turn
// revocations_stale past trust's RevocationsMaxAge, as when p is cut
// off, until the keyset arrives and a heartbeat is counted again; a
// heartbeat that races ahead of its keyset costs one heartbeat's delay.
func (s *Sync) keysetCurrent(p string, hb trust.Heartbeat) bool {
	ks := s.state.Keyset(p)
	return ks != nil && ks.Version >= hb.KeysetVersion
}

// heartbeatCovered caches p's waiting heartbeat once the revocations
// applied cover the seq it names. Callers hold s.mu, and call it after
// caching what was applied.
func (s *Sync) heartbeatCovered(p string) {
	w, ok := s.hbWaiting[p]
	if !ok || s.state.RevocationSeq(p) < w.hb.RevocationSeq {
		return
	}
	s.cacheHeartbeat(p, w)
}

// cacheHeartbeat caches p's heartbeat w, whose seq is applied, as the one
// that last showed p's revocations current, and drops any waiting one.
// Callers hold s.mu.
func (s *Sync) cacheHeartbeat(p string, w waitingHeartbeat) {
	delete(s.hbWaiting, p)
	s.cachePut(heartbeatKey(p), w.raw, uint64(max(w.hb.IssuedAt, 0)), s.holdNext())
}

// revocationsWarning is the warning for member p, whose revocations this
// node last knew it held at since (zero: never), past limit.
func revocationsWarning(p string, since time.Time, limit time.Duration) Warning {
	const check = ": its codes are refused here (revocations_stale) until this node holds its newest keyset and a heartbeat of it arrives; " +
		"check this node's NATS connection, and that province's node"
	if since.IsZero() {
		return Warning{Code: WarningRevocationsUnknown, Params: map[string]string{"province": p},
			Text: "this node has not yet confirmed it holds every revocation of " + p + check}
	}
	return Warning{Code: WarningRevocationsStale, Params: map[string]string{"province": p, "since": warnTime(since), "limit": limit.String()},
		Text: "this node last confirmed it holds every revocation of " + p + " at " + warnTime(since) +
			", longer ago than trust.revocations_max_age (" + limit.String() + ")" + check}
}
