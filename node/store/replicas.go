package store

import (
	"context"
	"database/sql"
	"time"
)

// Replica is a verifier replica registered with this (home) node.
type Replica struct {
	ID        string
	Name      string
	TokenHash []byte // SHA-256 of its bearer token; the token is shown once
	EncKey    string // public JWK it registered at its first sync; "" until then
	Created   time.Time
	LastSeen  time.Time // last sync; zero if never
}

// ScannerToken is what a replica needs to authenticate one of the
// province's scanners: the hash of its token, never the token.
type ScannerToken struct {
	ScannerID string
	Place     string
	Scope     string
	Hash      []byte
}

const replicaColumns = `id, name, token_hash, enc_key, created, last_seen`

// AddReplica registers a replica. ErrConflict if the id, the name (in any
// case) or the token hash is taken. The audit entries are appended in the
// same transaction.
func (db *DB) AddReplica(ctx context.Context, r Replica, audit ...AuditEntry) error {
	const op = "add replica"
	if r.ID == "" || r.Name == "" || len(r.TokenHash) == 0 || r.Created.IsZero() {
		return invalid(op, "missing id, name, token hash or creation time")
	}
	return db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replicas (`+replicaColumns+`) VALUES (?, ?, ?, '', ?, 0)`,
			r.ID, r.Name, r.TokenHash, nanos(r.Created))
		return err
	})
}

// Replicas lists registered replicas, oldest first.
func (db *DB) Replicas(ctx context.Context) ([]Replica, error) {
	return queryAll(ctx, db.r, "replicas", scanReplica, `SELECT `+replicaColumns+` FROM replicas ORDER BY created, id`)
}

// ReplicaByToken finds a replica by its token hash; ErrNotFound if none.
func (db *DB) ReplicaByToken(ctx context.Context, hash []byte) (Replica, error) {
	r, err := scanReplica(db.readRow(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE token_hash = ?`, hash))
	if err != nil {
		return Replica{}, wrap("replica", err)
	}
	return r, nil
}

// ReplicaByID finds a replica by its id; ErrNotFound if none. It only
// reads.
func (db *DB) ReplicaByID(ctx context.Context, id string) (Replica, error) {
	r, err := scanReplica(db.readRow(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE id = ?`, id))
	if err != nil {
		return Replica{}, wrap("replica", err)
	}
	return r, nil
}

// RemoveReplica deletes a replica, and with it its token; ErrNotFound for
// an unknown id or name. The audit entries are appended in the same
// transaction.
func (db *DB) RemoveReplica(ctx context.Context, idOrName string, audit ...AuditEntry) error {
	return db.writeAudited(ctx, "remove replica", audit, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE id = ?1 OR name = ?1`, idOrName)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("replica", err)
		}
		return nil
	})
}

// RegisterReplicaKey records the public key a replica's content keys are
// sealed to, the first time it is given; later it only records when the
// replica was last seen. It reports the key registered, which the caller
// compares with the one offered. ErrNotFound for an unknown id.
func (db *DB) RegisterReplicaKey(ctx context.Context, id, encKey string, seen time.Time) (string, error) {
	var held string
	err := db.write(ctx, "register replica key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE replicas SET enc_key = CASE WHEN enc_key = '' THEN ? ELSE enc_key END,
			last_seen = ? WHERE id = ?`, encKey, nanos(seen), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("replica", err)
		}
		return tx.QueryRowContext(ctx, `SELECT enc_key FROM replicas WHERE id = ?`, id).Scan(&held)
	})
	return held, err
}

// ScannerTokens lists the token hashes of every scanner not removed.
func (db *DB) ScannerTokens(ctx context.Context) ([]ScannerToken, error) {
	return queryAll(ctx, db.r, "scanner tokens", func(r rowScanner) (ScannerToken, error) {
		var t ScannerToken
		err := r.Scan(&t.ScannerID, &t.Place, &t.Scope, &t.Hash)
		return t, err
	}, `SELECT s.id, s.place, s.scope, t.hash FROM scanners s JOIN tokens t ON t.scanner_id = s.id
		WHERE s.disabled = 0 AND t.role = 'scanner' ORDER BY s.id`)
}

// ReplicaRecord is one verification a replica sends, by its record id,
// with the audit entry it becomes.
type ReplicaRecord struct {
	ID    string
	Audit AuditEntry
}

// AcceptReplicaRecords appends the audit entries of the records whose id
// it has not seen before, remembering the ids, in one transaction, and
// returns the records that were new: a batch a replica sends again after
// a lost answer is appended once. Ids remembered before forgetBefore are
// forgotten first.
func (db *DB) AcceptReplicaRecords(ctx context.Context, replicaID string, recs []ReplicaRecord, now, forgetBefore time.Time) ([]ReplicaRecord, error) {
	const op = "accept replica records"
	entries := make([]AuditEntry, len(recs))
	for i, r := range recs {
		if r.ID == "" {
			return nil, invalid(op, "record without id")
		}
		entries[i] = r.Audit
	}
	if err := checkAudit(entries); err != nil {
		return nil, err
	}
	var fresh []ReplicaRecord
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		fresh = fresh[:0]
		if _, err := tx.ExecContext(ctx, `DELETE FROM replica_records WHERE received < ?`, nanos(forgetBefore)); err != nil {
			return err
		}
		var add []AuditEntry
		for _, r := range recs {
			res, err := tx.ExecContext(ctx, `INSERT INTO replica_records (id, replica_id, received) VALUES (?, ?, ?)
				ON CONFLICT (id) DO NOTHING`, r.ID, replicaID, nanos(now))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				fresh = append(fresh, r)
				add = append(add, r.Audit)
			}
		}
		return appendAudit(sqlTx{ctx: ctx, tx: tx}, add)
	})
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

func scanReplica(r rowScanner) (Replica, error) {
	var x Replica
	var created, seen int64
	err := r.Scan(&x.ID, &x.Name, &x.TokenHash, &x.EncKey, &created, &seen)
	x.Created = fromNanos(created)
	if seen != 0 {
		x.LastSeen = fromNanos(seen)
	}
	return x, err
}
