package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// BackupTakenAt is the meta key under which Backup records, in the copy,
// when the copy began (RFC 3339 to the nanosecond): every change
// committed before it is in the copy. Copies made by an earlier build
// lack it.
const BackupTakenAt = "backup_taken_at"

// BackupSummary is what a backup holds as valid that a restore brings
// back, in ids and counts only (no personal data): the removals made
// after the backup are undone by a restore, and the operator redoes
// those the node cannot learn from the federation.
type BackupSummary struct {
	// TakenAt is when the copy began; zero for a copy without the mark.
	TakenAt time.Time
	// LastChange is the time of the copy's newest audit entry (zero if
	// none): a copy holds nothing done after it.
	LastChange time.Time
	// Residents and ResidentLinks count the residents and their wallet
	// links (resident tokens).
	Residents, ResidentLinks int
	// Scanners lists the ids of the scanners not removed.
	Scanners []string
	// Replicas lists the ids of the verifier replicas registered.
	Replicas []string
	// Accounts lists the ids of the enabled accounts.
	Accounts []string
	// OperatorTokens lists the operator tokens unexpired at the time
	// asked about, by account id and token id.
	OperatorTokens []OperatorTokenRef
}

// OperatorTokenRef names one operator token by its account and its id.
type OperatorTokenRef struct{ Account, ID string }

// SummariseBackup reads the copy at path read-only: see BackupSummary.
// Operator tokens expired at now are left out.
func SummariseBackup(ctx context.Context, path string, now time.Time) (BackupSummary, error) {
	var s BackupSummary
	if _, err := os.Stat(path); err != nil {
		return s, fmt.Errorf("store: backup: %w", err)
	}
	pool, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return s, err
	}
	defer pool.Close()
	var taken string
	switch err := pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, BackupTakenAt).Scan(&taken); {
	case err == sql.ErrNoRows:
	case err != nil:
		return s, fmt.Errorf("%s: %w (%v)", path, ErrNotABackup, err)
	default:
		if s.TakenAt, err = time.Parse(time.RFC3339Nano, taken); err != nil {
			return s, fmt.Errorf("%s: %s is not a time: %w", path, BackupTakenAt, err)
		}
	}
	var last sql.NullInt64
	if err := pool.QueryRowContext(ctx, `SELECT MAX(time) FROM audit`).Scan(&last); err != nil {
		return s, err
	}
	if last.Valid {
		s.LastChange = fromNanos(last.Int64)
	}
	if err := pool.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM subjects),
		(SELECT count(*) FROM tokens WHERE role = 'resident')`).Scan(&s.Residents, &s.ResidentLinks); err != nil {
		return s, err
	}
	for _, l := range []struct {
		dst   *[]string
		query string
	}{
		{&s.Scanners, `SELECT id FROM scanners WHERE disabled = 0 ORDER BY id`},
		{&s.Replicas, `SELECT id FROM replicas ORDER BY id`},
		{&s.Accounts, `SELECT id FROM accounts WHERE disabled = 0 ORDER BY id`},
	} {
		if *l.dst, err = queryAll(ctx, pool, "summarise backup", scanOneString, l.query); err != nil {
			return s, err
		}
	}
	s.OperatorTokens, err = queryAll(ctx, pool, "summarise backup", func(r rowScanner) (OperatorTokenRef, error) {
		var t OperatorTokenRef
		return t, r.Scan(&t.Account, &t.ID)
	}, `SELECT account_id, id FROM tokens WHERE role = 'operator' AND expires > ? ORDER BY account_id, id`, nanos(now))
	return s, err
}

func scanOneString(r rowScanner) (string, error) {
	var v string
	return v, r.Scan(&v)
}
