package store

import (
	"context"
	"sync/atomic"
)

// A Reservation announces one group-committed write that its caller is
// about to make, so that the writer can hold the batch it is filling
// open for it, up to maxLinger, instead of committing without it and
// paying a second fsync a moment later. Issuance reserves before its read
// and signature and inserts the code afterwards; many issuances in flight
// then share one commit.
//
// A Reservation is used for one write: InsertCode, or Release if the
// caller will not write after all. Release after InsertCode is a no-op,
// so callers defer it.
type Reservation struct {
	db   *DB
	done atomic.Bool
}

// Reserve announces a write the caller will queue shortly.
func (db *DB) Reserve() *Reservation {
	db.batch.announced.Add(1)
	return &Reservation{db: db}
}

// Release withdraws the announcement if it still stands.
func (r *Reservation) Release() {
	if r.done.CompareAndSwap(false, true) {
		r.db.batch.announced.Add(-1)
		r.db.batch.wake()
	}
}

// InsertCode is DB.InsertCode for the reserved write: the announcement
// ends once the code is queued (or refused before it).
func (r *Reservation) InsertCode(ctx context.Context, c Code) error {
	return r.db.insertCode(ctx, c, r)
}

// wake tells a lingering writer that the announced count fell.
func (b *batcher) wake() {
	select {
	case b.woken <- struct{}{}:
	default:
	}
}
