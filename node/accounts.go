package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// Account roles. Both are operators to every other rule; only an admin
// creates and disables accounts and mints tokens.
const (
	AccountAdmin    = "admin"
	AccountOperator = "operator"
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

// requireAdmin allows only a token of an admin account.
func requireAdmin(p Principal) error {
	if p.Role == RoleOperator && p.Admin {
		return nil
	}
	return Errorf(EForbidden, "only an admin account may do that")
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
func (n *Node) tokenLifetime(asked time.Duration) (time.Duration, error) {
	most := n.cfg.Tokens.OperatorLifetime
	switch {
	case asked == 0:
		return most, nil
	case asked < minTokenLife || asked > most:
		return 0, Errorf(EInvalid, "lifetime must be within [%v, %v] (tokens.operator_lifetime)", minTokenLife, most)
	}
	return asked, nil
}

// mintAccountToken draws a token for account a, valid for life from now.
func (n *Node) mintAccountToken(a store.Account, label string, life time.Duration, now time.Time) (store.Token, NewAccountToken, error) {
	tok, hash, err := NewToken(n.rand)
	if err != nil {
		return store.Token{}, NewAccountToken{}, err
	}
	id, err := randomID(n.rand, tokenIDPrefix)
	if err != nil {
		return store.Token{}, NewAccountToken{}, err
	}
	exp := now.Add(life).UTC()
	t := store.Token{Hash: hash, Role: string(RoleOperator), AccountID: a.ID, ID: id, Expires: exp, Label: label, Created: now}
	return t, NewAccountToken{AccountID: a.ID, Account: a.Name, Role: a.Role, TokenID: id, Token: tok, Expires: exp}, nil
}

// CreateAccount makes a named account with role admin or operator and
// its first token, labelled label and valid for tokens.operator_lifetime
// (shown once). Only an admin may; a name taken, in any case, is
// EConflict.
func (n *Node) CreateAccount(ctx context.Context, p Principal, name, role, label string) (NewAccountToken, error) {
	if err := requireAdmin(p); err != nil {
		return NewAccountToken{}, err
	}
	if err := checkText("label", label, maxTokenLabel, false); err != nil {
		return NewAccountToken{}, err
	}
	return n.createAccount(ctx, p.Actor(), name, role, strings.TrimSpace(label))
}

func (n *Node) createAccount(ctx context.Context, actor, name, role, label string) (NewAccountToken, error) {
	if err := CheckAccountName(name); err != nil {
		return NewAccountToken{}, err
	}
	if role != AccountAdmin && role != AccountOperator {
		return NewAccountToken{}, Errorf(EInvalid, "role must be %s or %s", AccountAdmin, AccountOperator)
	}
	id, err := randomID(n.rand, accountIDPrefix)
	if err != nil {
		return NewAccountToken{}, internal("create account", err)
	}
	now := n.now()
	a := store.Account{ID: id, Name: name, Role: role, Created: now}
	t, out, err := n.mintAccountToken(a, label, n.cfg.Tokens.OperatorLifetime, now)
	if err != nil {
		return NewAccountToken{}, internal("create account", err)
	}
	err = n.db.CreateAccount(ctx, a, t, n.auditEntry(actor, "account.create", id,
		map[string]any{"name": name, "role": role, "token": t.ID, "expires": t.Expires.Unix()}))
	if errors.Is(err, store.ErrConflict) {
		return NewAccountToken{}, Errorf(EConflict, "an account named %q exists already (names are never reused)", name)
	}
	if err != nil {
		return NewAccountToken{}, internal("create account", err)
	}
	return out, nil
}

// Accounts lists accounts with their tokens (ids, never secrets): every
// account to an admin, only their own to an operator.
func (n *Node) Accounts(ctx context.Context, p Principal) ([]Account, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	var list []store.Account
	var toks []store.Token
	var err error
	if p.Admin {
		list, err = n.db.Accounts(ctx)
	} else if p.AccountID != "" {
		var a store.Account
		a, err = n.db.Account(ctx, p.AccountID)
		list = []store.Account{a}
	}
	if err == nil && len(list) > 0 {
		own := p.AccountID
		if p.Admin {
			own = ""
		}
		toks, err = n.db.AccountTokens(ctx, own)
	}
	if err != nil {
		return nil, internal("accounts", err)
	}
	now := n.now()
	byAccount := map[string][]AccountToken{}
	for _, t := range toks {
		byAccount[t.AccountID] = append(byAccount[t.AccountID],
			AccountToken{ID: t.ID, Label: t.Label, Created: t.Created, Expires: t.Expires, Expired: !now.Before(t.Expires)})
	}
	out := make([]Account, 0, len(list))
	for _, a := range list {
		out = append(out, Account{ID: a.ID, Name: a.Name, Role: a.Role, Created: a.Created, Disabled: a.Disabled,
			Tokens: append([]AccountToken{}, byAccount[a.ID]...)})
	}
	return out, nil
}

// account finds an account by id or name, mapping absence to ENotFound.
func (n *Node) account(ctx context.Context, ref string) (store.Account, error) {
	a, err := n.db.Account(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return a, Errorf(ENotFound, "no such account")
	}
	if err != nil {
		return a, internal("account", err)
	}
	return a, nil
}

// CreateAccountToken mints another token for an account (named by id or
// name), for lifetime, or tokens.operator_lifetime when zero. Only an
// admin may: a leaked token must not be able to outlive itself.
func (n *Node) CreateAccountToken(ctx context.Context, p Principal, ref, label string, lifetime time.Duration) (NewAccountToken, error) {
	if err := requireAdmin(p); err != nil {
		return NewAccountToken{}, err
	}
	if err := checkText("label", label, maxTokenLabel, false); err != nil {
		return NewAccountToken{}, err
	}
	life, err := n.tokenLifetime(lifetime)
	if err != nil {
		return NewAccountToken{}, err
	}
	a, err := n.account(ctx, ref)
	if err != nil {
		return NewAccountToken{}, err
	}
	return n.addAccountToken(ctx, p.Actor(), a, strings.TrimSpace(label), life)
}

func (n *Node) addAccountToken(ctx context.Context, actor string, a store.Account, label string, life time.Duration) (NewAccountToken, error) {
	now := n.now()
	t, out, err := n.mintAccountToken(a, label, life, now)
	if err != nil {
		return NewAccountToken{}, internal("account token", err)
	}
	err = n.db.AddAccountToken(ctx, t, n.auditEntry(actor, "account.token", a.ID,
		map[string]any{"token": t.ID, "expires": t.Expires.Unix()}))
	if errors.Is(err, store.ErrDisabled) {
		return NewAccountToken{}, Errorf(EConflict, "account %s is disabled", a.Name)
	}
	if err != nil {
		return NewAccountToken{}, internal("account token", err)
	}
	return out, nil
}

// RevokeAccountToken deletes one token of an account (by id or name); it
// is refused from the next request on, cached or not. An admin may revoke
// any token, an operator only their own account's.
func (n *Node) RevokeAccountToken(ctx context.Context, p Principal, ref, tokenID string) error {
	if err := require(p, RoleOperator); err != nil {
		return err
	}
	a, err := n.account(ctx, ref)
	if err != nil {
		return err
	}
	if !p.Admin && a.ID != p.AccountID {
		return Errorf(EForbidden, "only an admin may revoke another account's tokens")
	}
	err = n.db.RevokeAccountToken(ctx, a.ID, tokenID, n.auditEntry(p.Actor(), "account.revoke", a.ID, map[string]any{"token": tokenID}))
	n.tokenCache().forgetAccount(a.ID, tokenID)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(ENotFound, "account %s has no token %s", a.Name, tokenID)
	}
	if err != nil {
		return internal("revoke token", err)
	}
	return nil
}

// DisableAccount disables an account (by id or name) and revokes all its
// tokens at once. Only an admin may, and never the last enabled admin.
// The account stays listed, and its name is never given to another, so
// that the audit log keeps naming one person.
func (n *Node) DisableAccount(ctx context.Context, p Principal, ref string) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	a, err := n.account(ctx, ref)
	if err != nil {
		return err
	}
	_, err = n.db.DisableAccount(ctx, a.ID, n.auditEntry(p.Actor(), "account.disable", a.ID, map[string]any{"name": a.Name}))
	n.tokenCache().forgetAccount(a.ID, "")
	if errors.Is(err, store.ErrLastAdmin) {
		return Errorf(EConflict, "%s is the last enabled admin account; create another admin first", a.Name)
	}
	if err != nil {
		return internal("disable account", err)
	}
	return nil
}

// BootstrapAdmin mints a token, labelled label, for the admin account
// name, creating the account first if there is none (the first admin,
// at init). It is audited as "system": it runs with access to the data
// directory, not through the API. An existing account of that name that
// is no admin, or is disabled, is refused.
func (n *Node) BootstrapAdmin(ctx context.Context, name, label string) (NewAccountToken, error) {
	a, err := n.db.Account(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return n.createAccount(ctx, "system", name, AccountAdmin, label)
	}
	if err != nil {
		return NewAccountToken{}, internal("bootstrap admin", err)
	}
	if a.Role != AccountAdmin || a.Disabled {
		return NewAccountToken{}, Errorf(EConflict, "account %s exists and is not an enabled admin", a.Name)
	}
	return n.addAccountToken(ctx, "system", a, label, n.cfg.Tokens.OperatorLifetime)
}
