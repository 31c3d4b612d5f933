// Package store is the node's SQLite database, and the only code in HCFed
// that speaks SQL.
//
// It keeps what a province node must not lose: its own keys (sealed under
// the KEK by the caller), enrolled subjects and their consent, the
// bookkeeping of issued codes, appeals, the revocation outbox, scanners and
// bearer tokens, the hash-chained audit log and the cache of verified peer
// statements. Every personal field arrives as ciphertext, so nothing here is
// readable without the KEK, and no error this package returns carries
// personal data.
//
// Each subject's data key lives apart, in the key store keys.db next to
// node.db (KeysPath). Deleting a subject shreds its key there first, so a
// copy of node.db made before the deletion no longer opens; only a copy of
// keys.db made before it would (docs/privacy.md).
//
// The store is the source of truth for revocation: SetStatus and
// DeleteSubject revoke a subject's live codes and append the numbered
// revocation statement (seq 1, 2, 3... without gaps) in the same
// transaction as the change that caused it; the federation layer publishes
// the outbox afterwards and marks what JetStream acknowledged, and drains it
// again after a restart.
//
// The database runs in WAL mode with synchronous=FULL. All writes go through
// one connection, so they never fight each other for SQLite's write lock;
// reads use a separate pool of read-only connections and see a consistent
// snapshot. Code issuance, the hot path, is group-committed: concurrent
// InsertCode calls share one transaction and one fsync; audit appends too.
//
// Times are stored as Unix nanoseconds and come back in UTC; the zero
// time.Time round-trips as zero. Errors wrap ErrNotFound, ErrConflict,
// ErrInvalid or ErrClosed where one applies, for errors.Is.
package store
