package federation

import (
	"time"

	"github.com/hcfed/hcfed/trust"
)

// A snapshot signed by a key its province's keyset does not list yet, or
// not as active, waits for a keyset as a delta does (waitsForKeyset):
// after a rotation the only snapshot there is may be signed by the new
// key before the keyset listing it reaches a peer. Its bytes (up to
// trust.MaxSnapshotLen) are not held: the bucket holds them, and the
// snapshot is fetched again once a keyset of its province is applied or
// its pointer changes. Until then, and for at most Sync.keysetWait, it is
// not reported refused, not fetched again on the catch-up backoff, and no
// fresh one is requested (the home node would sign it with the same
// key); after that it is refused (unknown_key or key_not_active) like a
// delta that waited as long.

// snapWait is a province whose stored snapshot waits for a keyset.
type snapWait struct {
	since   time.Time // first refused for want of a keyset, by s.now
	recheck bool      // a keyset or pointer of the province arrived since
}

// snapshotWaits reports whether p's snapshot should not be fetched now
// because it waits for a keyset that has not arrived. Callers hold s.mu.
func (s *Sync) snapshotWaits(p string, now time.Time) bool {
	w := s.revs.snapWaits[p]
	return w != nil && !w.recheck && now.Sub(w.since) < s.keysetWait
}

// holdSnapshot reports whether p's snapshot raw, refused with err, waits
// for a keyset, and if so records the wait. Callers hold s.mu.
func (s *Sync) holdSnapshot(p string, raw []byte, err error) bool {
	since := s.now()
	if w := s.revs.snapWaits[p]; w != nil {
		since = w.since
	}
	r := trust.ReasonOf(err)
	if (r != trust.ReasonUnknownKey && r != trust.ReasonKeyNotActive) || !s.waitsForKeyset(p, raw, err, since) {
		delete(s.revs.snapWaits, p)
		return false
	}
	s.revs.snapWaits[p] = &snapWait{since: since}
	s.log.Info("snapshot waits for a keyset listing its key", "province", p, "reason", string(r),
		"since", since)
	return true
}
