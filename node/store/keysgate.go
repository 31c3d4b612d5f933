package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"
)

// keysTruncateWait bounds how long the truncation of keys.db's WAL waits
// for a lock held by another process (the operator CLI, say). Key reads
// wait at the gate meanwhile, so it is also what a shredding can add to
// an issuance beyond the checkpoint's own writes. If it runs out, the
// deletion stands and the node's next tick tries again (FinishShredding).
const keysTruncateWait = 100 * time.Millisecond

// keysGate lets the truncation of keys.db's WAL find the file free of the
// node's own readers. The read pool attaches keys.db (openReadPool), so
// every issuance that misses the cache reads a sealed data key there, and
// a truncation must wait until no reader is on the WAL. Under continuous
// issuance it kept finding one: with four readers running, deletions took
// up to 11 s here, and about one in 90 gave up after the 10 s busy
// timeout and left the deleted key's old frames in keys.db-wal for a
// later tick.
//
// Every read of keys.db through the read pool holds the gate shared
// (read); a truncation holds it alone (close): reads under way finish (one
// statement each), new ones wait for the checkpoint, and the checkpoint
// never waits for this process's readers.
type keysGate struct{ mu sync.RWMutex }

// read runs f, a read of keys.db on the read pool, unless a truncation
// is under way: then after it.
func (g *keysGate) read(f func() error) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return f()
}

// close runs f while no read of keys.db through the read pool runs.
func (g *keysGate) close(f func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return f()
}

// checkpointKeys runs PRAGMA wal_checkpoint(TRUNCATE) on the key store's
// one connection, with the gate closed and a busy timeout of
// keysTruncateWait instead of busyTimeout for the checkpoint alone; it
// reports whether another process kept the WAL from being truncated.
// The gate stays closed for the truncation (with whatever the passive
// checkpoint before it could not copy) plus at most keysTruncateWait of
// waiting for another process.
func (db *DB) checkpointKeys(ctx context.Context) (busy bool, err error) {
	if db.checkpointFault != nil {
		return false, db.checkpointFault
	}
	conn, err := db.k.Conn(ctx) // writes to keys.db queue behind it, not the reads
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := setBusyTimeout(ctx, conn, keysTruncateWait); err != nil {
		return false, err
	}
	defer func() {
		if rerr := setBusyTimeout(context.WithoutCancel(ctx), conn, busyTimeout); rerr != nil {
			// A connection left with the short timeout would fail writes
			// that could have waited: the pool opens a new one instead.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // the error is that one
			err = errors.Join(err, rerr)
		}
	}()
	// A passive checkpoint first copies what it can into keys.db and
	// syncs it with the gate open; it waits for nothing, and what it
	// could not copy past a reader is left to the truncation.
	var n, logFrames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&n, &logFrames, &done); err != nil {
		return false, err
	}
	// Under the gate the wait is bounded by keysTruncateWait, not by ctx:
	// nothing there calls back into the caller's context, which might
	// read keys.db (and wait at the gate for itself).
	bounded := context.WithoutCancel(ctx)
	err = db.keysGate.close(func() error {
		db.keysTruncations.Add(1)
		return conn.QueryRowContext(bounded, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&n, &logFrames, &done)
	})
	return n != 0, err
}

// setBusyTimeout sets conn's busy timeout to d.
func setBusyTimeout(ctx context.Context, conn *sql.Conn, d time.Duration) error {
	_, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, d.Milliseconds()))
	return err
}

// KeysTruncations is how many times keys.db's WAL was truncated since
// Open, each a pause of issuance at the key gate: once per deletion of a
// subject, or batch of them (DeleteSubjects), plus the retries of
// FinishShredding.
func (db *DB) KeysTruncations() int64 { return db.keysTruncations.Load() }
