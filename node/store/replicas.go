package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"
)

// Replica is a verifier replica registered with this (home) node.
type Replica struct {
	ID        string
	Name      string
	TokenHash []byte // SHA-256 of its bearer token; the token is shown once
	EncKey    string // public JWK its content keys are sealed to; "" until registered
	SigKey    string // public JWK its records are signed with; "" until registered
	KeyFP     string // fingerprint of EncKey and SigKey (trust.ReplicaFingerprint)
	Confirmed string // fingerprint an admin confirmed; "" if none
	// PriorEncKey is the enc key the replica had registered when
	// migration 0022 ran (a build before fingerprints), "" if none or
	// once an admin confirmed a fingerprint: see Grandfathered.
	PriorEncKey string
	// KeyChanges counts the registrations of keys home did not hold
	// (RegisterReplicaKeys): a replica makes its keys once, and anew
	// only when its data directory is lost.
	KeyChanges int
	Created    time.Time
	LastSeen   time.Time // last sync; zero if never
}

// Trusted reports whether the keys registered are the ones an admin
// confirmed: only then does home seal content keys to the replica and
// take its records.
func (r Replica) Trusted() bool { return r.Confirmed != "" && r.KeyFP == r.Confirmed }

// Grandfathered reports whether the replica, not Trusted, still holds
// the enc key home held before fingerprints were confirmed (PriorEncKey):
// home then sends it scanners and content keys, sealed to that key, which
// only the replica that made it can open, but takes none of its records
// until an admin confirms its fingerprint. It keeps replicas serving
// through a rolling upgrade.
func (r Replica) Grandfathered() bool {
	return !r.Trusted() && r.PriorEncKey != "" && r.EncKey == r.PriorEncKey
}

// SyncTrusted reports whether home sends the replica scanners and
// content keys: Trusted or Grandfathered.
func (r Replica) SyncTrusted() bool { return r.Trusted() || r.Grandfathered() }

// ScannerToken is what a replica needs to authenticate one of the
// province's scanners: the hash of its token, never the token.
type ScannerToken struct {
	ScannerID string
	Place     string
	Scope     string
	Hash      []byte
}

const replicaColumns = `id, name, token_hash, enc_key, sig_key, key_fp, confirmed, prior_enc_key, key_changes, created, last_seen`

// AddReplica registers a replica. ErrConflict if the id, the name (in any
// case) or the token hash is taken. The audit entries are appended in the
// same transaction.
func (db *DB) AddReplica(ctx context.Context, r Replica, audit ...AuditEntry) error {
	const op = "add replica"
	if r.ID == "" || r.Name == "" || len(r.TokenHash) == 0 || r.Created.IsZero() {
		return invalid(op, "missing id, name, token hash or creation time")
	}
	return db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replicas (`+replicaColumns+`) VALUES (?, ?, ?, '', '', '', '', '', 0, ?, 0)`,
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

// MaxReplicaKeyCandidates bounds the keys registered for one replica
// that no admin confirmed (see RegisterReplicaKeys): a replica makes its
// keys once, at its first start, and anew only when its data directory
// is lost.
const MaxReplicaKeyCandidates = 4

// ErrReplicaKeysLimit is RegisterReplicaKeys' refusal of keys past
// MaxReplicaKeyCandidates, as a *ReplicaKeysLimitError.
var ErrReplicaKeysLimit = errors.New("replica keys limit reached")

// ReplicaKeysLimitError is RegisterReplicaKeys' refusal of keys past
// MaxReplicaKeyCandidates held within the window: Free is when the
// oldest of them leaves the window, and its slot is free again.
type ReplicaKeysLimitError struct{ Free time.Time }

func (e *ReplicaKeysLimitError) Error() string {
	return ErrReplicaKeysLimit.Error() + " until " + e.Free.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrReplicaKeysLimit) hold.
func (e *ReplicaKeysLimitError) Is(target error) bool { return target == ErrReplicaKeysLimit }

// RegisterReplicaKeys records the public keys a replica registers, enc
// and sig, of fingerprint fp, and returns the replica as it then is and
// whether anything was written.
//
// Keys that are trusted (see Replica.Trusted) are kept: others are
// ErrConflict, with the replica as held. Until an admin confirms a
// fingerprint, home holds the keys registered (up to
// MaxReplicaKeyCandidates, each by its fingerprint, beside the replica's
// row): ConfirmReplica takes those of its fingerprint at once, so that a
// replica-token holder registering other keys between the replica's
// registration and the confirmation gains nothing and takes nothing
// away. The last keys registered are the replica's (EncKey, SigKey,
// KeyFP), but for a grandfathered replica, whose enc key stays until
// keys of that enc key are registered: a token holder's keys cannot take
// it out of service.
//
// Keys home holds already (trusted, or held unconfirmed) write nothing,
// not even LastSeen (Sync writes it). Keys of the confirmed fingerprint
// are taken, and trusted, whatever else was registered. Other keys past
// MaxReplicaKeyCandidates registered less than window before seen are
// *ReplicaKeysLimitError, with the replica as held, but for a
// grandfathered replica's enc key, which writes nothing (the replica
// keeps serving on it): keys held longer no longer count, and
// DropExpiredReplicaKeys drops them, so that a token holder who filled
// the bound keeps the replica's new keys out for window at most. Each
// registration of keys home did not hold adds one to KeyChanges and
// appends audit, in the same transaction. ErrNotFound for an unknown id.
func (db *DB) RegisterReplicaKeys(ctx context.Context, id, enc, sig, fp string, seen time.Time, window time.Duration,
	audit ...AuditEntry) (Replica, bool, error) {
	const op = "register replica keys"
	if err := checkAudit(audit); err != nil {
		return Replica{}, false, err
	}
	if window <= 0 {
		return Replica{}, false, invalid(op, "the window of unconfirmed keys must be positive")
	}
	since := seen.Add(-window)
	// Most registrations are of keys home holds (a replica registers at
	// every start, and at every refresh until trusted): decided on the
	// read pool, without taking the writer.
	held, err := db.ReplicaByID(ctx, id)
	if err != nil {
		return Replica{}, false, err
	}
	if write, err := registration(ctx, db.r, held, enc, fp, since, window); err != nil || !write {
		return held, false, err
	}
	err = db.write(ctx, op, func(tx *sql.Tx) error {
		var err error
		if held, err = scanReplica(tx.QueryRowContext(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE id = ?`, id)); err != nil {
			return wrap("replica", err)
		}
		if write, err := registration(ctx, tx, held, enc, fp, since, window); err != nil || !write {
			return err
		}
		if fp == held.Confirmed {
			// The keys an admin confirmed: trusted from now on, and the
			// others registered meanwhile no longer needed.
			if _, err := tx.ExecContext(ctx, `DELETE FROM replica_keys WHERE replica_id = ?`, id); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `INSERT INTO replica_keys (replica_id, fp, enc_key, sig_key, registered) VALUES (?, ?, ?, ?, ?)`,
			id, fp, enc, sig, nanos(seen)); err != nil {
			return err
		}
		if !held.Grandfathered() || enc == held.PriorEncKey || fp == held.Confirmed {
			held.EncKey, held.SigKey, held.KeyFP = enc, sig, fp
		}
		held.KeyChanges++
		if _, err = tx.ExecContext(ctx, `UPDATE replicas SET enc_key = ?, sig_key = ?, key_fp = ?, key_changes = ? WHERE id = ?`,
			held.EncKey, held.SigKey, held.KeyFP, held.KeyChanges, id); err != nil {
			return err
		}
		return appendAudit(sqlTx{ctx: ctx, tx: tx}, audit)
	})
	if err != nil {
		return held, false, err
	}
	return held, true, nil
}

// registration decides, on q, what a registration of keys of enc key
// enc and fingerprint fp for the replica held does: nothing (write
// false, nil) for keys home holds, ErrConflict for others than the
// trusted ones, *ReplicaKeysLimitError for others past
// MaxReplicaKeyCandidates registered after since (keys registered then
// or before no longer count; a window after the oldest of the others, a
// slot is free), but
// nothing for those of a grandfathered replica's enc key (it keeps
// serving on it; its keys are trusted once confirmed and registered
// again); else they are to be written.
func registration(ctx context.Context, q rowQuerier, held Replica, enc, fp string, since time.Time, window time.Duration) (write bool, err error) {
	switch {
	case held.Trusted() && held.KeyFP == fp:
		return false, nil
	case held.Trusted():
		return false, ErrConflict
	case held.KeyFP == fp:
		return false, nil
	}
	var n, has int
	var oldest int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(registered > ?1), 0), COALESCE(SUM(fp = ?2), 0),
		COALESCE(MIN(CASE WHEN registered > ?1 THEN registered END), 0) FROM replica_keys WHERE replica_id = ?3`,
		nanos(since), fp, held.ID).Scan(&n, &has, &oldest); err != nil {
		return false, err
	}
	switch {
	case fp == held.Confirmed:
		return true, nil
	case has > 0:
		return false, nil
	case n >= MaxReplicaKeyCandidates && held.Grandfathered() && enc == held.PriorEncKey:
		return false, nil
	case n >= MaxReplicaKeyCandidates:
		return false, &ReplicaKeysLimitError{Free: fromNanos(oldest).Add(window)}
	}
	return true, nil
}

// DropExpiredReplicaKeys drops the keys registered for a replica at or
// before cutoff that no admin confirmed (see RegisterReplicaKeys: they no
// longer count toward its bound), and returns their fingerprints by
// replica id, oldest first; nil if there were none. audit makes the
// entry appended for each replica's, in the same transaction. It reads
// first, on the read pool, and writes only when there is something to
// drop: the node's tick calls it every minute.
func (db *DB) DropExpiredReplicaKeys(ctx context.Context, cutoff time.Time, audit func(replicaID string, fps []string) AuditEntry) (map[string][]string, error) {
	const op = "drop expired replica keys"
	var due int
	if err := db.readRow(ctx, `SELECT EXISTS (SELECT 1 FROM replica_keys WHERE registered <= ?)`, nanos(cutoff)).Scan(&due); err != nil {
		return nil, wrap(op, err)
	}
	if due == 0 {
		return nil, nil
	}
	var dropped map[string][]string
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		dropped = make(map[string][]string)
		type row struct {
			id, fp string
			at     int64
		}
		got, err := queryAll(ctx, tx, op, func(r rowScanner) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.fp, &x.at)
			return x, err
		}, `DELETE FROM replica_keys WHERE registered <= ? RETURNING replica_id, fp, registered`, nanos(cutoff))
		if err != nil {
			return err
		}
		slices.SortFunc(got, func(a, b row) int {
			return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.at, b.at), cmp.Compare(a.fp, b.fp))
		})
		var entries []AuditEntry
		for i, x := range got {
			dropped[x.id] = append(dropped[x.id], x.fp)
			if i == len(got)-1 || got[i+1].id != x.id {
				entries = append(entries, audit(x.id, dropped[x.id]))
			}
		}
		if err := checkAudit(entries); err != nil {
			return err
		}
		return appendAudit(sqlTx{ctx: ctx, tx: tx}, entries)
	})
	if err != nil {
		return nil, err
	}
	return dropped, nil
}

// rowQuerier is *sql.DB or *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ReplicaKeyCandidates lists, by replica id, the fingerprints of the
// keys registered that no admin confirmed (see RegisterReplicaKeys),
// oldest first.
func (db *DB) ReplicaKeyCandidates(ctx context.Context) (map[string][]string, error) {
	type row struct{ id, fp string }
	rows, err := queryAll(ctx, db.r, "replica key candidates", func(r rowScanner) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.fp)
		return x, err
	}, `SELECT replica_id, fp FROM replica_keys ORDER BY replica_id, registered, fp`)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string)
	for _, x := range rows {
		out[x.id] = append(out[x.id], x.fp)
	}
	return out, nil
}

// RegisterReplicaEncKey records a registration of enc alone, as a
// replica of a build before signing keys sends it, and returns the
// replica as it then is and whether anything was written. Only an enc key home already trusts is taken:
// the grandfathered one (PriorEncKey), or the one of the Trusted keys;
// any other is ErrConflict, with the replica as held. The grandfathered
// key, if keys of another replaced it (a build before the keys
// registered unconfirmed were held apart, see RegisterReplicaKeys), is
// put back without a signing key (the replica's next registration of
// both keys, after its upgrade, adds its own), adding one to KeyChanges;
// else nothing is written. ErrNotFound for an unknown id.
func (db *DB) RegisterReplicaEncKey(ctx context.Context, id, enc string, seen time.Time, audit ...AuditEntry) (Replica, bool, error) {
	if err := checkAudit(audit); err != nil {
		return Replica{}, false, err
	}
	held, err := db.ReplicaByID(ctx, id)
	if err != nil {
		return Replica{}, false, err
	}
	if put, err := encRegistration(held, enc); err != nil || !put {
		return held, false, err
	}
	written := false
	err = db.write(ctx, "register replica enc key", func(tx *sql.Tx) error {
		var err error
		written = false
		if held, err = scanReplica(tx.QueryRowContext(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE id = ?`, id)); err != nil {
			return wrap("replica", err)
		}
		if put, err := encRegistration(held, enc); err != nil || !put {
			return err
		}
		held.EncKey, held.SigKey, held.KeyFP = enc, "", ""
		held.KeyChanges++
		if _, err = tx.ExecContext(ctx, `UPDATE replicas SET enc_key = ?, sig_key = '', key_fp = '', key_changes = ? WHERE id = ?`,
			enc, held.KeyChanges, id); err != nil {
			return err
		}
		if err := appendAudit(sqlTx{ctx: ctx, tx: tx}, audit); err != nil {
			return err
		}
		written = true
		return nil
	})
	return held, written && err == nil, err
}

// encRegistration decides what a registration of enc alone does for the
// replica held: nothing (false, nil) for the trusted enc key or the
// grandfathered one held, put the grandfathered one back (true), or
// ErrConflict.
func encRegistration(held Replica, enc string) (put bool, err error) {
	switch {
	case held.Trusted() && held.EncKey == enc:
		return false, nil
	case !held.Trusted() && held.PriorEncKey != "" && held.PriorEncKey == enc:
		return held.EncKey != enc, nil
	}
	return false, ErrConflict
}

// TouchReplica records when a replica was last seen and returns it.
// ErrNotFound for an unknown id.
func (db *DB) TouchReplica(ctx context.Context, id string, seen time.Time) (Replica, error) {
	var held Replica
	err := db.write(ctx, "touch replica", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE replicas SET last_seen = ? WHERE id = ?`, nanos(seen), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("replica", err)
		}
		held, err = scanReplica(tx.QueryRowContext(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE id = ?`, id))
		return err
	})
	return held, err
}

// ConfirmReplica records fp as the fingerprint an admin confirmed for the
// replica of that id or name, and returns the replica. Keys of that
// fingerprint registered unconfirmed (see RegisterReplicaKeys) become the
// replica's at once, trusted; once its keys are trusted, the others
// registered are dropped. It ends the replica's grandfathered enc key
// (PriorEncKey): from then on only the confirmed keys are trusted.
// ErrNotFound for an unknown one. The audit entries are appended in the
// same transaction.
func (db *DB) ConfirmReplica(ctx context.Context, idOrName, fp string, audit ...AuditEntry) (Replica, error) {
	var held Replica
	err := db.writeAudited(ctx, "confirm replica", audit, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE replicas SET confirmed = ?1, prior_enc_key = '' WHERE id = ?2 OR name = ?2`, fp, idOrName)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("replica", err)
		}
		if held, err = scanReplica(tx.QueryRowContext(ctx, `SELECT `+replicaColumns+` FROM replicas WHERE id = ?1 OR name = ?1`, idOrName)); err != nil {
			return err
		}
		if !held.Trusted() {
			var enc, sig string
			err := tx.QueryRowContext(ctx, `SELECT enc_key, sig_key FROM replica_keys WHERE replica_id = ? AND fp = ?`, held.ID, fp).Scan(&enc, &sig)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return nil // trusted once the replica registers them
			case err != nil:
				return err
			}
			held.EncKey, held.SigKey, held.KeyFP = enc, sig, fp
			if _, err := tx.ExecContext(ctx, `UPDATE replicas SET enc_key = ?, sig_key = ?, key_fp = ? WHERE id = ?`, enc, sig, fp, held.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM replica_keys WHERE replica_id = ?`, held.ID)
		return err
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
	err := r.Scan(&x.ID, &x.Name, &x.TokenHash, &x.EncKey, &x.SigKey, &x.KeyFP, &x.Confirmed, &x.PriorEncKey, &x.KeyChanges, &created, &seen)
	x.Created = fromNanos(created)
	if seen != 0 {
		x.LastSeen = fromNanos(seen)
	}
	return x, err
}
