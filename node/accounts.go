package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// Account roles. Admins and operators are operators to every other
// rule; only an admin creates and disables accounts and mints tokens. A
// feed account is the province's health-code platform: its tokens
// (RoleFeed) may only change statuses, one or in bulk, so that a stolen
// one reads no resident, issues no code and manages nothing.
const (
	AccountAdmin    = "admin"
	AccountOperator = "operator"
	AccountFeed     = "feed"
)

// Account limits.
const (
	maxAccountName  = 64
	maxTokenLabel   = 100
	minTokenLife    = time.Minute
	accountIDPrefix = "ac_"
	tokenIDPrefix   = "tk_"
)

// Account is an operator account as lists show it: never a token's secret.
type Account struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Role     string         `json:"role"`
	Created  time.Time      `json:"created"`
	Disabled bool           `json:"disabled"`
	Tokens   []AccountToken `json:"tokens"`
}

// AccountToken is one of an account's tokens, by id.
type AccountToken struct {
	ID      string    `json:"id"`
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Expired bool      `json:"expired"`
}

// NewAccountToken is a token just minted: its secret is shown once.
type NewAccountToken struct {
	AccountID string    `json:"account_id"`
	Account   string    `json:"account"`
	Role      string    `json:"role"`
	TokenID   string    `json:"token_id"`
	Token     string    `json:"token"`
	Expires   time.Time `json:"expires"`
}

// CheckAccountName refuses (EInvalid) an account name that is not 1-64 of
// A-Z, a-z, 0-9, '.', '_', '-' starting with a letter or digit, or that
// starts with "ac_": names appear in the audit log ("operator:NAME") and
// on command lines, and must not be mistaken for account ids.
func CheckAccountName(name string) error {
	ok := name != "" && len(name) <= maxAccountName && !strings.HasPrefix(strings.ToLower(name), accountIDPrefix)
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		ok = ok && (alnum || i > 0 && strings.ContainsRune("._-", r))
	}
	if !ok {
		return Errorf(EInvalid, "account name must be 1-%d of A-Z, a-z, 0-9, '.', '_', '-', start with a letter or digit, "+
			"and not start with %q", maxAccountName, accountIDPrefix)
	}
	return nil
}

// tokenLifetime is the lifetime asked for, within the configured one (the
// default and the most).
func (a *access) tokenLifetime(asked time.Duration) (time.Duration, error) {
	most := a.tokenLife
	switch {
	case asked == 0:
		return most, nil
	case asked < minTokenLife || asked > most:
		return 0, Errorf(EInvalid, "lifetime must be within [%v, %v] (tokens.operator_lifetime)", minTokenLife, most)
	}
	return asked, nil
}

// mintAccountToken draws a token for account acc, valid for life from now.
func (a *access) mintAccountToken(acc store.Account, label string, life time.Duration, now time.Time) (store.Token, NewAccountToken, error) {
	tok, hash, err := a.newToken()
	if err != nil {
		return store.Token{}, NewAccountToken{}, err
	}
	id, err := randomID(a.rand, tokenIDPrefix)
	if err != nil {
		return store.Token{}, NewAccountToken{}, err
	}
	exp := now.Add(life).UTC()
	t := store.Token{Hash: hash, Role: string(RoleOperator), AccountID: acc.ID, ID: id, Expires: exp, Label: label, Created: now}
	return t, NewAccountToken{AccountID: acc.ID, Account: acc.Name, Role: acc.Role, TokenID: id, Token: tok, Expires: exp}, nil
}

// createAccountFor makes an account on p's behalf (see
// Node.CreateAccount).
func (a *access) createAccountFor(ctx context.Context, p Principal, name, role, label string) (NewAccountToken, error) {
	if err := permitAdmin(ctx, a.db, a.now(), p, adminOps[OpCreateAccount]); err != nil {
		return NewAccountToken{}, err
	}
	if err := checkText("label", label, maxTokenLabel, false); err != nil {
		return NewAccountToken{}, err
	}
	return a.createAccount(ctx, p.Actor(), name, role, strings.TrimSpace(label))
}

// createAccount makes an account and its first token, audited as actor.
func (a *access) createAccount(ctx context.Context, actor, name, role, label string) (NewAccountToken, error) {
	if err := CheckAccountName(name); err != nil {
		return NewAccountToken{}, err
	}
	if role != AccountAdmin && role != AccountOperator && role != AccountFeed {
		return NewAccountToken{}, Errorf(EInvalid, "role must be %s, %s or %s (the health platform's status feed)",
			AccountOperator, AccountAdmin, AccountFeed)
	}
	id, err := randomID(a.rand, accountIDPrefix)
	if err != nil {
		return NewAccountToken{}, internal("create account", err)
	}
	now := a.now()
	acc := store.Account{ID: id, Name: name, Role: role, Created: now}
	t, out, err := a.mintAccountToken(acc, label, a.tokenLife, now)
	if err != nil {
		return NewAccountToken{}, internal("create account", err)
	}
	err = a.db.CreateAccount(ctx, acc, t, a.auditEntry(actor, "account.create", id,
		map[string]any{"name": name, "role": role, "token": t.ID, "expires": t.Expires.Unix()}))
	a.tokenCreated(t.Hash)
	if errors.Is(err, store.ErrConflict) {
		return NewAccountToken{}, Errorf(EConflict, "an account named %q exists already (names are never reused)", name)
	}
	if err != nil {
		return NewAccountToken{}, internal("create account", err)
	}
	return out, nil
}

// accounts lists accounts with their tokens (see Node.Accounts).
func (a *access) accounts(ctx context.Context, p Principal) ([]Account, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	var list []store.Account
	var toks []store.Token
	var err error
	if p.Admin {
		list, err = a.db.Accounts(ctx)
	} else if p.AccountID != "" {
		var acc store.Account
		acc, err = a.db.Account(ctx, p.AccountID)
		list = []store.Account{acc}
	}
	if err == nil && len(list) > 0 {
		own := p.AccountID
		if p.Admin {
			own = ""
		}
		toks, err = a.db.AccountTokens(ctx, own)
	}
	if err != nil {
		return nil, internal("accounts", err)
	}
	now := a.now()
	byAccount := map[string][]AccountToken{}
	for _, t := range toks {
		byAccount[t.AccountID] = append(byAccount[t.AccountID],
			AccountToken{ID: t.ID, Label: t.Label, Created: t.Created, Expires: t.Expires, Expired: !now.Before(t.Expires)})
	}
	out := make([]Account, 0, len(list))
	for _, acc := range list {
		out = append(out, Account{ID: acc.ID, Name: acc.Name, Role: acc.Role, Created: acc.Created, Disabled: acc.Disabled,
			Tokens: append([]AccountToken{}, byAccount[acc.ID]...)})
	}
	return out, nil
}

// account finds an account by id or name, mapping absence to ENotFound.
func (a *access) account(ctx context.Context, ref string) (store.Account, error) {
	acc, err := a.db.Account(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return acc, Errorf(ENotFound, "no such account")
	}
	if err != nil {
		return acc, internal("account", err)
	}
	return acc, nil
}

// createAccountToken mints another token for an account (see
// Node.CreateAccountToken).
func (a *access) createAccountToken(ctx context.Context, p Principal, ref, label string, lifetime time.Duration) (NewAccountToken, error) {
	if err := permitAdmin(ctx, a.db, a.now(), p, adminOps[OpCreateAccountToken]); err != nil {
		return NewAccountToken{}, err
	}
	if err := checkText("label", label, maxTokenLabel, false); err != nil {
		return NewAccountToken{}, err
	}
	life, err := a.tokenLifetime(lifetime)
	if err != nil {
		return NewAccountToken{}, err
	}
	acc, err := a.account(ctx, ref)
	if err != nil {
		return NewAccountToken{}, err
	}
	return a.addAccountToken(ctx, p.Actor(), acc, strings.TrimSpace(label), life)
}

// addAccountToken mints a token for acc, valid for life, audited as actor.
func (a *access) addAccountToken(ctx context.Context, actor string, acc store.Account, label string, life time.Duration) (NewAccountToken, error) {
	now := a.now()
	t, out, err := a.mintAccountToken(acc, label, life, now)
	if err != nil {
		return NewAccountToken{}, internal("account token", err)
	}
	err = a.db.AddAccountToken(ctx, t, a.auditEntry(actor, "account.token", acc.ID,
		map[string]any{"token": t.ID, "expires": t.Expires.Unix()}))
	a.tokenCreated(t.Hash)
	if errors.Is(err, store.ErrDisabled) {
		return NewAccountToken{}, Errorf(EConflict, "account %s is disabled", acc.Name)
	}
	if err != nil {
		return NewAccountToken{}, internal("account token", err)
	}
	return out, nil
}

// revokeAccountToken deletes one token of an account and evicts it from
// the token cache (see Node.RevokeAccountToken); it returns the
// account's id.
func (a *access) revokeAccountToken(ctx context.Context, p Principal, ref, tokenID string) (string, error) {
	if err := require(p, RoleOperator); err != nil {
		return "", err
	}
	acc, err := a.account(ctx, ref)
	// An operator is told the same whether another account exists or not:
	// only an admin may see which accounts there are.
	if !p.Admin && (ErrorCodeOf(err) == ENotFound || err == nil && acc.ID != p.AccountID) {
		return "", permitAdmin(ctx, a.db, a.now(), p, "account.revoke")
	}
	if err != nil {
		return "", err
	}
	err = a.db.RevokeAccountToken(ctx, acc.ID, tokenID, a.auditEntry(p.Actor(), "account.revoke", acc.ID, map[string]any{"token": tokenID}))
	a.tokens.forgetAccount(acc.ID, tokenID)
	if errors.Is(err, store.ErrNotFound) {
		return "", Errorf(ENotFound, "account %s has no token %s", acc.Name, tokenID)
	}
	if err != nil {
		return "", internal("revoke token", err)
	}
	return acc.ID, nil
}

// disableAccount disables an account and evicts its cached tokens (see
// Node.DisableAccount); it returns the account's id.
func (a *access) disableAccount(ctx context.Context, p Principal, ref string) (string, error) {
	if err := permitAdmin(ctx, a.db, a.now(), p, "account.disable"); err != nil {
		return "", err
	}
	acc, err := a.account(ctx, ref)
	if err != nil {
		return "", err
	}
	_, err = a.db.DisableAccount(ctx, acc.ID, a.auditEntry(p.Actor(), "account.disable", acc.ID, map[string]any{"name": acc.Name}))
	a.tokens.forgetAccount(acc.ID, "")
	if errors.Is(err, store.ErrLastAdmin) {
		return "", Errorf(EConflict, "%s is the last enabled admin account; create another admin first", acc.Name)
	}
	if err != nil {
		return "", internal("disable account", err)
	}
	return acc.ID, nil
}

// bootstrapAdmin mints a token for the admin account name, creating it
// if there is none (see Node.BootstrapAdmin).
func (a *access) bootstrapAdmin(ctx context.Context, name, label string) (NewAccountToken, error) {
	acc, err := a.db.Account(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return a.createAccount(ctx, "system", name, AccountAdmin, label)
	}
	if err != nil {
		return NewAccountToken{}, internal("bootstrap admin", err)
	}
	if acc.Role != AccountAdmin || acc.Disabled {
		return NewAccountToken{}, Errorf(EConflict, "account %s exists and is not an enabled admin", acc.Name)
	}
	return a.addAccountToken(ctx, "system", acc, label, a.tokenLife)
}
