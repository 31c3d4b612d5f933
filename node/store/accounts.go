package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Account is a named person who runs the node: an admin manages accounts,
// an operator does the daily work. Operator tokens belong to an account, so
// that the audit log names a person and one person's tokens can be stopped.
type Account struct {
	ID       string
	Name     string // unique, compared without case
	Role     string // admin|operator|feed
	Created  time.Time
	Disabled bool // its tokens are deleted; the row stays for the audit log
}

// accountRoles are the roles an account may have.
var accountRoles = map[string]bool{"admin": true, "operator": true, "feed": true}

// ErrLastAdmin is returned by DisableAccount for the last enabled admin
// account: without one, nobody could mint a token again.
var ErrLastAdmin = errors.New("the last enabled admin account")

// ErrDisabled is returned when a token is minted for a disabled account.
var ErrDisabled = errors.New("account disabled")

// CreateAccount stores a new account and, unless t is zero (nil Hash), its
// first token, in one transaction. t.Role and t.AccountID may be left
// empty. It returns ErrConflict if the id, the name (in any case) or the
// token is taken, ErrInvalid for a missing id or name or an unknown role.
// The audit entries are appended in the same transaction.
func (db *DB) CreateAccount(ctx context.Context, a Account, t Token, audit ...AuditEntry) error {
	const op = "create account"
	if a.ID == "" || a.Name == "" || !accountRoles[a.Role] || a.Created.IsZero() {
		return invalid(op, "missing id, name or created time, or unknown role")
	}
	withToken := len(t.Hash) > 0
	if t.Role == "" {
		t.Role = "operator"
	}
	if t.AccountID == "" {
		t.AccountID = a.ID
	}
	if withToken && (t.Role != "operator" || t.AccountID != a.ID) {
		return invalid(op, "token is not this account's token")
	}
	return db.writeAudited(ctx, op, audit, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, name, role, created, disabled) VALUES (?, ?, ?, ?, ?)`,
			a.ID, a.Name, a.Role, nanos(a.Created), boolInt(a.Disabled)); err != nil {
			return err
		}
		if !withToken {
			return nil
		}
		return insertToken(ctx, tx, t)
	})
}

const accountColumns = `id, name, role, created, disabled`

// Accounts lists every account, disabled ones included, oldest first.
func (db *DB) Accounts(ctx context.Context) ([]Account, error) {
	return queryAll(ctx, db.r, "accounts", scanAccount, `SELECT `+accountColumns+` FROM accounts ORDER BY created, id`)
}

// Account reads one account by id or by name (in any case); ErrNotFound
// if neither matches.
func (db *DB) Account(ctx context.Context, ref string) (Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1`, ref, ref, ref))
	if err != nil {
		return Account{}, wrap("account", err)
	}
	return a, nil
}

// AccountTokens lists the tokens of one account, or of every account when
// accountID is empty, expired ones included, oldest first.
func (db *DB) AccountTokens(ctx context.Context, accountID string) ([]Token, error) {
	return queryAll(ctx, db.r, "account tokens", scanToken, `SELECT `+tokenColumns+` FROM tokens
		WHERE account_id IS NOT NULL AND (? = '' OR account_id = ?) ORDER BY created, id`, accountID, accountID)
}

// AddAccountToken stores another token of an account. It returns
// ErrNotFound for an unknown account, ErrDisabled for a disabled one and
// ErrInvalid for a token that is not an operator token with an id and an
// expiry. The audit entries are appended in the same transaction.
func (db *DB) AddAccountToken(ctx context.Context, t Token, audit ...AuditEntry) error {
	return db.writeAudited(ctx, "add account token", audit, func(tx *sql.Tx) error {
		var disabled bool
		err := tx.QueryRowContext(ctx, `SELECT disabled FROM accounts WHERE id = ?`, t.AccountID).Scan(&disabled)
		if err != nil {
			return err
		}
		if disabled {
			return ErrDisabled
		}
		return insertToken(ctx, tx, t)
	})
}

// RevokeAccountToken deletes one token of an account; ErrNotFound if the
// account has no token with that id. The audit entries are appended in
// the same transaction.
func (db *DB) RevokeAccountToken(ctx context.Context, accountID, tokenID string, audit ...AuditEntry) error {
	return db.writeAudited(ctx, "revoke account token", audit, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE account_id = ? AND id = ?`, accountID, tokenID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFound("token", err)
		}
		return nil
	})
}

// DisableAccount disables an account and deletes its tokens, in one
// transaction, and returns how many tokens it deleted. Disabling a
// disabled account deletes nothing and succeeds. It returns ErrNotFound
// for an unknown id and ErrLastAdmin for the last enabled admin. The audit
// entries are appended in the same transaction.
func (db *DB) DisableAccount(ctx context.Context, id string, audit ...AuditEntry) (int, error) {
	var revoked int64
	err := db.writeAudited(ctx, "disable account", audit, func(tx *sql.Tx) error {
		var role string
		var disabled bool
		if err := tx.QueryRowContext(ctx, `SELECT role, disabled FROM accounts WHERE id = ?`, id).Scan(&role, &disabled); err != nil {
			return err
		}
		if role == "admin" && !disabled {
			var others int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND disabled = 0 AND id <> ?`,
				id).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				return fmt.Errorf("%w: %w", ErrLastAdmin, ErrConflict)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET disabled = 1 WHERE id = ?`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE account_id = ?`, id)
		if err != nil {
			return err
		}
		revoked, err = res.RowsAffected()
		return err
	})
	return int(revoked), err
}

// AdminTokens says how long the province's admins can still reach it
// through the API: when the last token of an enabled admin account
// expires (zero when there is none, expired or not) and how many such
// tokens are valid at now. Read on the read pool, so it runs on a
// read-only store too ('hcnode check').
func (db *DB) AdminTokens(ctx context.Context, now time.Time) (last time.Time, valid int, err error) {
	var lastNanos sql.NullInt64
	err = db.r.QueryRowContext(ctx, `SELECT MAX(t.expires), COUNT(CASE WHEN t.expires > ? THEN 1 END)
		FROM accounts a JOIN tokens t ON t.account_id = a.id
		WHERE a.role = 'admin' AND a.disabled = 0`, nanos(now)).Scan(&lastNanos, &valid)
	if err != nil {
		return time.Time{}, 0, wrap("admin tokens", err)
	}
	if lastNanos.Valid {
		last = fromNanos(lastNanos.Int64)
	}
	return last, valid, nil
}

func scanAccount(r rowScanner) (Account, error) {
	var a Account
	var created int64
	err := r.Scan(&a.ID, &a.Name, &a.Role, &created, &a.Disabled)
	a.Created = fromNanos(created)
	return a, err
}
