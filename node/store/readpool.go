package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
)

// openReadPool opens the read-only pool on the database at path, each
// connection with the key store at keysPath attached read-only as "keys".
// Issuance then reads a subject, its live-code count and its sealed data
// key in one query, where two queries on two pools (the second on keys.db's
// one connection, which every issuance queued for) cost it twice the CPU
// (BenchmarkSubjectForIssueDuringInserts: about 50 → 22 µs).
//
// Writes to keys.db stay on its own connection (DB.k). A reader holds
// keys.db only for the statement that reads it, and every read of it
// passes keysGate, so that the WAL truncation after a shredding waits
// for the reads under way and not for a moment when none runs.
func openReadPool(ctx context.Context, path, keysPath string, conns int) (*sql.DB, error) {
	c := keysAttacher{dsn: dsn(path, true), keys: (&url.URL{Scheme: "file", Opaque: (&url.URL{Path: keysPath}).EscapedPath(),
		RawQuery: "mode=ro"}).String(), d: &sqlite.Driver{}}
	return sizePool(ctx, sql.OpenDB(c), conns)
}

// keysAttacher is a driver.Connector whose connections attach the key
// store when they open.
type keysAttacher struct {
	dsn  string // the database's
	keys string // the key store's URI, read-only
	d    *sqlite.Driver
}

// Connect opens a connection and attaches the key store to it.
func (c keysAttacher) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return nil, errors.Join(errors.New("store: the SQLite driver's connection cannot execute"), conn.Close())
	}
	if _, err := ex.ExecContext(ctx, `ATTACH DATABASE ? AS keys`, []driver.NamedValue{{Ordinal: 1, Value: c.keys}}); err != nil {
		return nil, errors.Join(fmt.Errorf("store: attach key store: %w", err), conn.Close())
	}
	return conn, nil
}

// Driver is the SQLite driver.
func (c keysAttacher) Driver() driver.Driver { return c.d }
