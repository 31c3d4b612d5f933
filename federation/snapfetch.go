package federation

import "time"

// A province's snapshot may be up to trust.MaxSnapshotLen, and every peer
// downloads it whenever its pointer is ahead of what the peer holds, or a
// gap blocks the province. A pointer is the province's to rewrite, and
// each new one makes the snapshot due at once (onPointer): a member
// rewriting its pointer every few seconds, with a seq above what its
// snapshot holds, would make every peer download the same snapshot again
// and again. So each province's downloads are spaced by a gate that no
// pointer, keyset or new gap opens early: at least minSnapshotFetchGap
// apart, and, while its snapshots keep falling short of the seq their
// pointer claimed, further apart on catchupBackoff. Each such snapshot is
// counted (SyncStats.SnapshotsBehindPointer) and logged with its province.

// minSnapshotFetchGap is the least time between two downloads of one
// province's snapshot, whatever its pointers say: catchupBackoff's floor,
// so that an honest home's fresh snapshot, published because this node
// asked, is fetched as soon as a gap's retry would be.
const minSnapshotFetchGap = retryMin

// snapFetch is when a province's snapshot was last downloaded, and
// whether the downloads have kept falling short of their pointers.
type snapFetch struct {
	next  time.Time // no download before then, by s.now
	short int       // consecutive downloads that fell short of their pointer
}

// fetchAllowed reports whether p's snapshot may be downloaded now.
// Callers hold s.mu.
func (s *Sync) fetchAllowed(p string, now time.Time) bool {
	f := s.revs.fetches[p]
	return f == nil || !now.Before(f.next)
}

// fetchStart returns the seq p's pointer claims, before a download.
// Callers hold s.mu.
func (s *Sync) fetchStart(p string) uint64 {
	if ptr := s.revs.pointers[p]; ptr != nil {
		return ptr.seq
	}
	return 0
}

// fetchDone closes p's gate after an attempt to download p's snapshot
// made while p's pointer claimed seq claimed: for minSnapshotFetchGap, or
// longer on catchupBackoff while what is held of p after a download still
// falls short of that claim (a snapshot waiting for a keyset excepted:
// snapwait.go bounds that wait). Callers hold s.mu.
func (s *Sync) fetchDone(p string, claimed uint64, downloaded bool, now time.Time) {
	f := s.revs.fetches[p]
	if f == nil {
		f = &snapFetch{}
		s.revs.fetches[p] = f
	}
	held := s.state.RevocationSeq(p)
	switch {
	case !downloaded: // nothing was downloaded, nothing learnt
	case held < claimed && s.revs.snapWaits[p] == nil:
		f.short++
		s.stats.behindPointer.Add(1)
		s.log.Warn("snapshot falls short of its pointer; its downloads are spaced out",
			"province", p, "pointer_seq", claimed, "held_seq", held, "in_a_row", f.short)
	default:
		f.short = 0
	}
	f.next = now.Add(max(minSnapshotFetchGap, catchupRetry(f.short)))
}
