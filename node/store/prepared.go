package store

import (
	"context"
	"database/sql"
	"sync"
)

// prepared holds the read pool's statements for the hot paths (token
// lookup, code lookup, live-code count), prepared once: database/sql then
// re-prepares each on a connection only the first time that connection
// runs it, instead of SQLite parsing the SQL on every call.
type prepared struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// readRow runs a one-row query on the read pool through a prepared
// statement.
func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.prepared.stmt(ctx, db.r, query)
	if err != nil {
		// Preparing failed (closed database, say): the unprepared query
		// reports the same error through Scan.
		return db.r.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *prepared) stmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[query]; ok {
		return st, nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if p.stmts == nil {
		p.stmts = map[string]*sql.Stmt{}
	}
	p.stmts[query] = st
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
