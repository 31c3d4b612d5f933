package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group-commit limits.
const (
	// maxBatch is the most operations committed in one transaction.
	maxBatch = 256
	// queueLen is how many operations may wait for the writer before
	// callers block on enqueueing.
	queueLen = 4 * maxBatch
	// maxLinger is the longest the writer holds a batch open for writes
	// that were announced (Reserve) but not queued yet. A commit costs
	// the same fsync and about the same WAL pages for one code as for
	// fifteen, so under concurrent issuance waiting this long for the
	// callers already between their read and their insert saves more
	// than it delays; with nothing announced the writer never waits.
	//
	// It is also the pace of issuance's commits while issuance is
	// concurrent (the previous commit held two or more reserved
	// inserts): a batch holding a reserved insert is committed no
	// sooner than maxLinger after the previous commit began. Issuances
	// over HTTP reach the writer spread out — most of each one's time is
	// the HTTP exchange, before it can announce anything — so without a
	// pace the writer committed every few codes, and each commit's CPU
	// (about 0.5 ms: the WAL's writes and the fsync) came out of the same
	// cores as the HTTP work. One code alone, or a writer that is always
	// busy, never waits for it.
	//
	// 1 ms rather than 2: on 2 shared cores an announced issuance often
	// waits for a core behind the HTTP work, and a writer holding its
	// batch open 2 ms for it sat idle longer than the smaller commits
	// that follow cost (docs/design-changes.md, "the linger halved").
	maxLinger = time.Millisecond
)

// A request moves from pending to taken (the writer owns it and will answer
// on done) or to cancelled (its caller gave up first; it is never written).
const (
	reqPending int32 = iota
	reqTaken
	reqCancelled
)

// request is one caller's operation waiting for group commit.
type request struct {
	op       func(*batchTx) error
	reserved bool // queued by a Reservation: an issuance
	state    atomic.Int32
	done     chan error // buffered: the writer never blocks on a caller
}

// batcher owns the goroutine that commits queued operations in shared
// transactions, paying one BEGIN, COMMIT and fsync for up to maxBatch of
// them. It is stopped by close, which commits what is queued first.
type batcher struct {
	w       *sql.DB
	prep    *prepared    // the writer's statements, prepared once for every batch
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	queue   chan *request
	stopped chan struct{}
	// inflight counts queued and running operations not yet answered (or
	// cancelled): the write backlog.
	inflight atomic.Int64
	// commits counts batch transactions attempted, for measuring how many
	// operations share one.
	commits atomic.Int64
	// announced counts writes reserved but not yet queued or withdrawn
	// (Reservation); woken is signalled whenever it falls, so a
	// lingering writer sees the last one arrive.
	announced atomic.Int64
	woken     chan struct{}
	// maxLinger is maxLinger, but for tests.
	maxLinger time.Duration
	// lastStart is when the last commit began, and paced whether the
	// next batch of issuance waits for the pace (maxLinger): the last
	// commit held two or more reserved inserts (an issuance beside an
	// audit append is not concurrent issuance). The writer goroutine's
	// alone.
	lastStart time.Time
	paced     bool
}

// batchTx is the transaction one batch runs in, with its statements bound
// to it once per batch.
type batchTx struct {
	tx    *sql.Tx
	prep  *prepared
	w     *sql.DB
	stmts map[string]*sql.Stmt
	// fresh are the queries first met in this batch, prepared on the
	// writer once the batch is over (the writer's one connection is the
	// transaction's until then).
	fresh []string
}

func newBatcher(w *sql.DB, prep *prepared) *batcher {
	b := &batcher{w: w, prep: prep, queue: make(chan *request, queueLen), stopped: make(chan struct{}),
		woken: make(chan struct{}, 1), maxLinger: maxLinger}
	go b.run()
	return b
}

// do queues op and waits until the transaction it ran in has committed
// (nil, or the op's own error) or failed.
//
// If ctx ends while op is still queued, do returns ctx.Err() and op is
// guaranteed never to run. If the writer has already taken op, do waits for
// that transaction instead, which is bounded by one commit, so its answer is
// always the truth: no write is lost behind a context error and a retry
// after one never writes twice.
//
// op must be all-or-nothing on its own: if it fails with ErrConflict, ErrStatusChanged,
// ErrTooManyCodes, ErrNotFound, ErrInvalid or ErrTokenGone, it must have written nothing (a single
// statement, checks before any write, or batchTx.atomically), and the batch
// goes on without it.
// Any other error aborts the whole batch, and every op in it gets that
// error.
//
// queued, if not nil, is called once op is queued or has failed to be.
func (b *batcher) do(ctx context.Context, op func(*batchTx) error, queued func()) error {
	return b.doRequest(ctx, &request{op: op, done: make(chan error, 1)}, queued)
}

// doRequest is do for a request made by the caller.
func (b *batcher) doRequest(ctx context.Context, r *request, queued func()) error {
	err := b.enqueue(ctx, r)
	if queued != nil {
		queued()
	}
	if err != nil {
		return err
	}
	defer b.inflight.Add(-1)
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqCancelled) {
			return ctx.Err()
		}
		return <-r.done
	}
}

func (b *batcher) enqueue(ctx context.Context, r *request) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("store: %w", ErrClosed)
	}
	select {
	case b.queue <- r:
		b.inflight.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops accepting operations, lets the writer commit everything
// already queued, and waits for it to exit.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	<-b.stopped
}

// run is the writer goroutine: it takes whatever is queued, up to maxBatch,
// and commits it in one transaction. While one batch commits, the next one
// accumulates, so the batch size follows the load.
func (b *batcher) run() {
	defer close(b.stopped)
	batch := make([]*request, 0, maxBatch)
	for r := range b.queue {
		batch = b.topUp(append(batch[:0], r))
		batch = b.linger(batch)
		b.lastStart = time.Now()
		b.paced = reservedIn(batch) >= 2
		b.commit(batch)
	}
}

// reservedIn counts the reserved inserts (issuances) in batch.
func reservedIn(batch []*request) int {
	n := 0
	for _, r := range batch {
		if r.reserved {
			n++
		}
	}
	return n
}

// linger holds batch open while writes announced by a Reservation are on
// their way, up to maxLinger, and, for a batch of issuance while issuance
// is concurrent, until maxLinger after the last commit began (paced);
// never past maxBatch. It returns batch with whatever joined it.
func (b *batcher) linger(batch []*request) []*request {
	var pace <-chan time.Time
	if b.paced && reservedIn(batch) > 0 {
		if d := time.Until(b.lastStart.Add(b.maxLinger)); d > 0 {
			pt := time.NewTimer(d)
			defer pt.Stop()
			pace = pt.C
		}
	}
	if (b.announced.Load() <= 0 && pace == nil) || len(batch) >= maxBatch {
		return batch
	}
	t := time.NewTimer(b.maxLinger)
	defer t.Stop()
	for len(batch) < maxBatch && (b.announced.Load() > 0 || pace != nil) {
		select {
		case r, ok := <-b.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		case <-b.woken:
		case <-pace:
			pace = nil
		case <-t.C:
			return batch
		}
	}
	return batch
}

// commit runs the live requests of batch in one transaction and answers
// each of them.
//
// The writer is taken first, and the batch then topped up with what was
// queued while it waited: another write may hold the writer for a few
// milliseconds (a transaction of DeleteSubjects, up to deletionTxWork
// and its two commits), and issuances queued meanwhile share this commit
// instead of each waiting behind the next one. A batch formed before the
// wait committed about 16 codes a turn beside a retention pass, while 32
// callers waited.
func (b *batcher) commit(batch []*request) {
	// The batch is shared, so no caller's context may cancel it.
	tx, beginErr := b.w.BeginTx(context.Background(), nil)
	batch = b.topUp(batch)
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqPending, reqTaken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		if beginErr == nil {
			tx.Rollback() //nolint:errcheck // nothing was written
		}
		return
	}
	b.commits.Add(1)
	errs := make([]error, len(live))
	var err error
	if beginErr != nil {
		err = fmt.Errorf("store: group commit: %w", beginErr)
	} else {
		err = b.runTx(tx, live, errs)
	}
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	for i, r := range live {
		r.done <- errs[i]
	}
}

// topUp adds to batch what is queued now, up to maxBatch, without
// waiting. The queue closed, it adds nothing more: run ends once the
// batch is committed.
func (b *batcher) topUp(batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r, ok := <-b.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// runTx runs every op in tx, recording each op's own error in errs, and
// commits it. It returns an error, meaning nothing was committed, when
// the transaction itself failed or an op failed in a way that may have
// left the transaction unusable.
func (b *batcher) runTx(tx *sql.Tx, live []*request, errs []error) error {
	bt := &batchTx{tx: tx, prep: b.prep, w: b.w, stmts: make(map[string]*sql.Stmt)}
	defer bt.prepareFresh()
	for i, r := range live {
		errs[i] = r.op(bt)
		if errs[i] != nil && !opLocal(errs[i]) {
			tx.Rollback() //nolint:errcheck // the op's error is the one to report
			return fmt.Errorf("store: group commit aborted: %w", errs[i])
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: group commit: %w", err)
	}
	return nil
}

// opLocal reports whether err concerns only the op that returned it: a
// constraint violation (SQLite rolls back just that statement) or a check
// made before writing.
func opLocal(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrStatusChanged) ||
		errors.Is(err, ErrTooManyCodes) || errors.Is(err, ErrStatusUnconfirmed) || errors.Is(err, ErrTokenGone)
}

// atomically runs fn inside a savepoint, for ops of several statements:
// if fn fails with an op-local error part way, what it wrote is rolled
// back and the batch goes on without it.
func (bt *batchTx) atomically(fn func() error) error {
	if _, err := bt.exec(`SAVEPOINT op`); err != nil {
		return err
	}
	err := fn()
	if err != nil && !opLocal(err) {
		return err // fatal: the whole batch is rolled back anyway
	}
	if err != nil {
		if _, rbErr := bt.exec(`ROLLBACK TO op`); rbErr != nil {
			// Deliberately not wrapping err: this must abort the batch.
			return fmt.Errorf("store: rolling back a failed op: %w", rbErr)
		}
	}
	if _, relErr := bt.exec(`RELEASE op`); relErr != nil {
		return fmt.Errorf("store: releasing savepoint: %w", relErr)
	}
	return err
}

// exec runs query in the batch's transaction, preparing it on first use.
func (bt *batchTx) exec(query string, args ...any) (sql.Result, error) {
	st, err := bt.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

// queryRow runs a one-row query in the batch's transaction.
func (bt *batchTx) queryRow(query string, args ...any) (*sql.Row, error) {
	st, err := bt.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryRow(args...), nil
}

// stmt returns query's statement in the batch's transaction: the
// writer's prepared statement bound to it, or, the first time the query
// is met, one prepared in the transaction (SQLite parsed every statement
// again in every batch before).
func (bt *batchTx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := bt.stmts[query]; ok {
		return st, nil
	}
	if pst, ok := bt.prep.lookup(bt.w, query); ok {
		st := bt.tx.Stmt(pst) // closed by the transaction's end; pst stays prepared
		bt.stmts[query] = st
		return st, nil
	}
	st, err := bt.tx.Prepare(query) // closed by the transaction's end
	if err != nil {
		return nil, err
	}
	bt.stmts[query] = st
	bt.fresh = append(bt.fresh, query)
	return st, nil
}

// prepareFresh prepares the batch's fresh queries on the writer, after
// its transaction has ended. A failure only means the next batch prepares
// the query in its transaction again.
func (bt *batchTx) prepareFresh() {
	if bt.prep == nil {
		return
	}
	for _, q := range bt.fresh {
		bt.prep.stmt(context.Background(), bt.w, q) //nolint:errcheck // see above
	}
}

// WriteBacklog is the number of group-committed writes (InsertCode,
// AppendAudit) queued or being committed right now, for a metrics gauge:
// a backlog that keeps growing means the disk cannot keep up.
func (db *DB) WriteBacklog() int { return int(db.batch.inflight.Load()) }

// GroupCommits is how many group-commit transactions (InsertCode,
// AppendAudit) have been attempted since Open, for benchmarks that report
// how many operations share one.
func (db *DB) GroupCommits() int64 { return db.batch.commits.Load() }
