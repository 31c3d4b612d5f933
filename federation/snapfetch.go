package federation

import "time"

// A province's snapshot may be up to trust.MaxSnapshotLen, and every peer
// downloads it whenever its pointer is ahead of what the peer holds, or a
// gap blocks the province. A pointer is the province's to rewrite, and
// each new one makes the snapshot due at once (onPointer): a member
// rewriting its pointer every few seconds, with a seq above what its
// snapshot holds, would make every peer download the same snapshot again
// and again; a member opening a gap and then publishing a genuine, ever
// higher snapshot would too, each download filling its pointer. So each
// province's downloads are spaced by a gate that no pointer, keyset or
// new gap opens early: at least minSnapshotFetchGap apart; at least the
// last download's size ÷ snapshotBytesPerMinute apart; and, while its
// snapshots keep falling short of the seq their pointer claimed, further
// apart on catchupBackoff. Downloads deferred by their size are counted
// (SyncStats.SnapshotsOverByteRate), as is each snapshot short of its
// pointer (SyncStats.SnapshotsBehindPointer), and logged with their
// province.

// minSnapshotFetchGap is the least time between two downloads of one
// province's snapshot, whatever its pointers say: catchupBackoff's floor,
// so that an honest home's fresh snapshot, published because this node
// asked, is fetched as soon as a gap's retry would be.
const minSnapshotFetchGap = retryMin

// snapshotBytesPerMinute bounds what one province's snapshots cost this
// node to download: after a download of n bytes, the province's next
// waits n ÷ snapshotBytesPerMinute (byteRateWait). A member publishing an
// ever higher snapshot behind a gap it keeps open costs each peer about
// this much a minute, not trust.MaxSnapshotLen (~200 MB) a second; the
// largest snapshot defers the next by about 75 s, and an
// honest one of 100,000 revocations (~2 MB, issue 12's catch-up) by less
// than minSnapshotFetchGap, so that it is never slowed.
const snapshotBytesPerMinute = 160 << 20

// byteRateWait is how long a download of n bytes defers the next one of
// its province, at perMinute bytes a minute.
func byteRateWait(n int, perMinute int64) time.Duration {
	return time.Duration(float64(n) / float64(perMinute) * float64(time.Minute))
}

// snapFetch is when a province's snapshot was last downloaded, and
// whether the downloads have kept falling short of their pointers.
type snapFetch struct {
	next  time.Time // no download before then, by s.now
	short int       // consecutive downloads that fell short of their pointer
	got   pointerID // the pointer when the last snapshot was downloaded
}

// pointerID is what names the snapshot a pointer points at.
type pointerID struct {
	seq    uint64
	digest string
}

// fetchAllowed reports whether p's snapshot may be downloaded now.
// Callers hold s.mu.
func (s *Sync) fetchAllowed(p string, now time.Time) bool {
	f := s.revs.fetches[p]
	return f == nil || !now.Before(f.next)
}

// fetchStart returns what p's pointer names, before a download.
// Callers hold s.mu.
func (s *Sync) fetchStart(p string) pointerID {
	if ptr := s.revs.pointers[p]; ptr != nil {
		return pointerID{seq: ptr.seq, digest: ptr.digest}
	}
	return pointerID{}
}

// holdsPointed reports whether p is blocked on a gap while its pointer
// still names the snapshot last downloaded and claims no seq above what
// is held: that snapshot, downloaded again, could fill no gap, so only a
// fresh one can. Callers hold s.mu.
func (s *Sync) holdsPointed(p string) bool {
	q, f, ptr := s.revs.blocked[p], s.revs.fetches[p], s.revs.pointers[p]
	return q != nil && q.wait == waitSnapshot && f != nil && ptr != nil && f.got.digest != "" &&
		f.got == pointerID{seq: ptr.seq, digest: ptr.digest} && ptr.seq <= s.state.RevocationSeq(p)
}

// fetchDone closes p's gate after an attempt to download p's snapshot
// that read size bytes (all of them, or as many as were read before it
// failed: a snapshot refused once downloaded costs what a sound one
// does), made while p's pointer named claimed: for
// minSnapshotFetchGap, for size ÷ s.snapRate if longer, or longer on
// catchupBackoff while what is held of p after a download still falls
// short of the pointer's claim (a snapshot waiting for a keyset excepted:
// snapwait.go bounds that wait). Callers hold s.mu.
func (s *Sync) fetchDone(p string, claimed pointerID, downloaded bool, size int, now time.Time) {
	f := s.revs.fetches[p]
	if f == nil {
		f = &snapFetch{}
		s.revs.fetches[p] = f
	}
	held := s.state.RevocationSeq(p)
	switch {
	case !downloaded: // nothing was downloaded, nothing learnt
	case held < claimed.seq && s.revs.snapWaits[p] == nil:
		f.short++
		s.stats.behindPointer.Add(1)
		s.log.Warn("snapshot falls short of its pointer; its downloads are spaced out",
			"province", p, "pointer_seq", claimed.seq, "held_seq", held, "in_a_row", f.short)
	default:
		f.short = 0
	}
	if downloaded {
		f.got = claimed
	}
	wait := max(minSnapshotFetchGap, catchupRetry(f.short))
	if paid := byteRateWait(size, s.snapRate); paid > wait {
		wait = paid
		s.stats.overByteRate.Add(1)
		s.log.Info("snapshot downloads of this province are deferred by their size",
			"province", p, "bytes", size, "next_in", paid.Round(time.Second).String())
	}
	f.next = now.Add(wait)
}
