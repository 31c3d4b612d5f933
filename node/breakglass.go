package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// ActionBreakGlass is the audit action of an admin token minted offline
// ('hcnode account recover-admin'), by whoever holds the data directory
// and the KEK rather than by an admin through the API. Its actor is
// ActorBreakGlass and the name the person gave; its target the account.
const (
	ActionBreakGlass = "account.break_glass"
	ActorBreakGlass  = "break-glass"
)

// DefaultBreakGlassLifetime is how long a break-glass token works unless
// asked otherwise: long enough to mint the admins' own tokens with it.
const DefaultBreakGlassLifetime = time.Hour

// BreakGlass is an offline admin-token issuance: for which admin account,
// by whom, from where.
type BreakGlass struct {
	// Account is the admin account the token is for, by name or id; an
	// account of that name is created, role admin, if there is none.
	Account string
	// By is who is doing it, as they gave it (an account name's
	// characters): the audit entry's actor is "break-glass:" and By.
	By string
	// OSUser, SudoUser and Host are the machine account it ran as, the
	// login that ran it through sudo (if any) and the machine: the audit
	// entry records them beside By.
	OSUser, SudoUser, Host string
	// Label is the token's label; Lifetime how long it works
	// (DefaultBreakGlassLifetime when zero, at most
	// tokens.operator_lifetime).
	Label    string
	Lifetime time.Duration
}

// BreakGlassTarget is what an issuance would mint for: the account as
// it is now (Exists false: it would be created, role admin).
type BreakGlassTarget struct {
	Exists     bool
	Account    store.Account
	LiveTokens int // the account's tokens valid now
	Lifetime   time.Duration
}

// CheckBreakGlass says what RecoverAdmin would do for bg, refusing,
// changing nothing, what it would refuse: a database of another province
// than s's, a KEK that does not open the node's token key, a name that is
// no account name, an account that is not an enabled admin, a lifetime
// out of bounds, or a By that is no account name.
func CheckBreakGlass(ctx context.Context, db *store.DB, kek *seal.Key, s config.Config, bg BreakGlass, now time.Time) (BreakGlassTarget, error) {
	_, target, err := breakGlassAccess(ctx, db, kek, s, bg, now)
	return target, err
}

// RecoverAdmin mints a token for an admin account straight into the
// database, without the API: the way back for a province whose every
// admin token has expired. It writes the account (if new), the token and
// one audit entry (ActionBreakGlass, naming By, the machine user and
// host, the token's id and expiry) in one transaction, and nothing else:
// no key, no cache. So it is safe beside a running node of the same
// schema, which resolves a token it has not seen from the database at
// its first request (Authenticate) and chains its own audit entries onto
// the head the database holds. The token is shown once.
func RecoverAdmin(ctx context.Context, db *store.DB, kek *seal.Key, s config.Config, bg BreakGlass, now time.Time) (NewAccountToken, error) {
	a, target, err := breakGlassAccess(ctx, db, kek, s, bg, now)
	if err != nil {
		return NewAccountToken{}, err
	}
	acc := target.Account
	created := !target.Exists
	if created {
		id, err := randomID(a.rand, accountIDPrefix)
		if err != nil {
			return NewAccountToken{}, internal("break-glass", err)
		}
		acc = store.Account{ID: id, Name: bg.Account, Role: AccountAdmin, Created: now}
	}
	t, out, err := a.mintAccountToken(acc, bg.Label, target.Lifetime, now)
	if err != nil {
		return NewAccountToken{}, internal("break-glass", err)
	}
	detail := map[string]any{"token": t.ID, "expires": t.Expires.Unix(), "account_created": created,
		"os_user": bg.OSUser, "host": bg.Host}
	if bg.SudoUser != "" {
		detail["sudo_user"] = bg.SudoUser
	}
	entry := a.auditEntry(ActorBreakGlass+":"+bg.By, ActionBreakGlass, acc.ID, detail)
	if created {
		err = db.CreateAccount(ctx, acc, t, entry)
	} else {
		err = db.AddAccountToken(ctx, t, entry)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		return NewAccountToken{}, Errorf(EConflict, "an account named %q was made meanwhile: run again", bg.Account)
	case errors.Is(err, store.ErrDisabled):
		return NewAccountToken{}, Errorf(EConflict, "account %s was disabled meanwhile: name another", acc.Name)
	case err != nil:
		return NewAccountToken{}, internal("break-glass", err)
	}
	return out, nil
}

// breakGlassAccess checks bg against the database (see CheckBreakGlass)
// and returns an access service that mints tokens the node accepts.
func breakGlassAccess(ctx context.Context, db *store.DB, kek *seal.Key, s config.Config, bg BreakGlass, now time.Time) (*access, BreakGlassTarget, error) {
	var target BreakGlassTarget
	if err := CheckAccountName(bg.By); err != nil {
		return nil, target, fmt.Errorf("--by: who is recovering, as the audit log shall name them: %w", err)
	}
	prov, err := db.GetMeta(ctx, "province")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, target, err
	}
	if prov != s.Province {
		return nil, target, Errorf(EUnavailable, "database belongs to province %q, config says %q: give the node's own config", prov, s.Province)
	}
	key, err := breakGlassTokenKey(ctx, db, kek)
	if err != nil {
		return nil, target, err
	}
	a := &access{db: db, clock: clock{func() time.Time { return now }}, rand: rand.Reader, tokenLife: s.Tokens.OperatorLifetime,
		check: newTokenCheck(key, nil)}
	life := bg.Lifetime
	if life == 0 {
		life = min(DefaultBreakGlassLifetime, a.tokenLife)
	}
	if target.Lifetime, err = a.tokenLifetime(life); err != nil {
		return nil, target, err
	}
	if err := checkText("label", bg.Label, maxTokenLabel, false); err != nil {
		return nil, target, err
	}
	acc, err := db.Account(ctx, bg.Account)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := CheckAccountName(bg.Account); err != nil {
			return nil, target, err
		}
		return a, target, nil
	case err != nil:
		return nil, target, internal("break-glass", err)
	case acc.Role != AccountAdmin:
		return nil, target, Errorf(EConflict, "account %s is of role %s, not admin: name an admin account, or a new name for a new admin account", acc.Name, acc.Role)
	case acc.Disabled:
		return nil, target, Errorf(EConflict, "account %s is disabled for good: name another admin account, or a new name for a new admin account", acc.Name)
	}
	target.Exists, target.Account = true, acc
	toks, err := db.AccountTokens(ctx, acc.ID)
	if err != nil {
		return nil, target, internal("break-glass", err)
	}
	for _, t := range toks {
		if now.Before(t.Expires) {
			target.LiveTokens++
		}
	}
	return a, target, nil
}

// ErrBreakGlassKEK is the refusal of a KEK that does not open the
// node's token key: a token minted under another key would be refused
// by the node, unread.
var ErrBreakGlassKEK = errors.New("wrong KEK")

// breakGlassTokenKey opens the token-check key the node mints tokens
// under, never creating it (openSecret would, on a node's first start).
func breakGlassTokenKey(ctx context.Context, db *store.DB, kek *seal.Key) ([]byte, error) {
	v, err := db.GetMeta(ctx, tokenCheckMeta)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("the database holds no token key: this node was never initialised by 'hcnode init'")
	}
	if err != nil {
		return nil, err
	}
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("the token key in the database is malformed")
	}
	key, err := kek.Open([]byte(tokenCheckAAD), sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: the KEK does not open this database's token key: it is not the KEK the node runs with "+
			"(kek_file, or $%s, which wins over it; a KEK from a systemd credential reaches only the unit that loads it). "+
			"Nothing was changed", ErrBreakGlassKEK, seal.EnvKEK)
	}
	return key, nil
}
