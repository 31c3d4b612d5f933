package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// CheckKeyStore is a preflight of the key store at path (keys.db): it
// opens it as OpenReadOnly opens a database, creating and changing no
// file, reads its schema as a start does, and runs quick_check over it.
// A key store a start would refuse is refused in the start's words; one
// damaged where a start does not read (a resident's key, read later) in
// quick_check's. A missing key store is an error wrapping os.ErrNotExist:
// a start would make an empty one.
func CheckKeyStore(ctx context.Context, path string) error {
	return checkFile(ctx, path, "the key store "+path, func(err error) error { return openKeysError(path, err) })
}

// CheckReplicaStore is CheckKeyStore for a verifier replica's database
// (replica.db, OpenReplica).
func CheckReplicaStore(ctx context.Context, path string) error {
	return checkFile(ctx, path, "the replica database "+path, func(err error) error { return openReplicaError(path, err) })
}

// checkFile opens the SQLite file at path read-only, reads its schema
// (a failure is refused(err), the start's refusal) and quick-checks it,
// naming it what.
func checkFile(ctx context.Context, path, what string, refused func(error) error) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	pool, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return refused(err)
	}
	defer pool.Close()
	keepConns(pool, 1)
	var tables int
	if err := pool.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
		return refused(err)
	}
	return quickCheck(ctx, pool, what)
}

// ReplicaMetaReadOnly reads the setting key of the replica database at
// path, opened read-only as CheckReplicaStore opens it, for a preflight
// of what a start unseals; ErrNotFound if it holds none.
func ReplicaMetaReadOnly(ctx context.Context, path, key string) ([]byte, error) {
	pool, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return nil, openReplicaError(path, err)
	}
	defer pool.Close()
	var v []byte
	if err := pool.QueryRowContext(ctx, `SELECT value FROM replica_meta WHERE key = ?`, key).Scan(&v); err != nil {
		return nil, wrap("replica meta", err)
	}
	return v, nil
}
