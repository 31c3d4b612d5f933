package store

import (
	"context"
	"database/sql"
	"sync"
)

// prepared holds the statements of the hot paths (token lookup, subject
// and data-key reads, code lookup, live-code count), prepared once per
// pool: database/sql then prepares each on a connection only the first
// time that connection runs it, instead of SQLite parsing the SQL on
// every call (a quarter of an issuance's database time before).
type prepared struct {
	mu    sync.Mutex
	stmts map[preparedKey]*sql.Stmt
}

type preparedKey struct {
	pool  *sql.DB
	query string
}

// readRow runs a one-row query on the read pool through a prepared
// statement.
func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.prepared.queryRow(ctx, db.r, query, args...)
}

// queryRow runs a one-row query on pool through a prepared statement.
//
// It checks ctx when it starts, not while the query runs: a one-row read
// by key takes microseconds, and a context that can be cancelled (every
// HTTP request's) makes database/sql and the driver each start a
// goroutine to watch it, which cost half as much CPU again as the read
// itself. A read waiting for another process's lock still ends after
// busyTimeout.
func (p *prepared) queryRow(ctx context.Context, pool *sql.DB, query string, args ...any) *sql.Row {
	if ctx.Err() == nil {
		ctx = context.WithoutCancel(ctx)
	} // else database/sql reports ctx's error through Scan
	st, err := p.stmt(ctx, pool, query)
	if err != nil {
		// Preparing failed (closed database, say): the unprepared query
		// reports the same error through Scan.
		return pool.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// lookup returns query's statement on pool if it has been prepared. A
// nil p has none: the batchTx of a DB.write prepares in its transaction.
func (p *prepared) lookup(pool *sql.DB, query string) (*sql.Stmt, bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.stmts[preparedKey{pool, query}]
	return st, ok
}

func (p *prepared) stmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	k := preparedKey{pool, query}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[k]; ok {
		return st, nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if p.stmts == nil {
		p.stmts = map[preparedKey]*sql.Stmt{}
	}
	p.stmts[k] = st
	return st, nil
}

// close closes every prepared statement.
func (p *prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.stmts {
		st.Close()
	}
	p.stmts = nil
}
