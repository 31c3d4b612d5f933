package node

import (
	"context"
	"io"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
	"github.com/prometheus/client_golang/prometheus"
)

// access owns who may call the node and how often: registered scanners,
// operator accounts and their tokens, the resolution of bearer tokens
// (with its cache), and the per-scanner and per-resident rate limits. It
// reaches the database, the clock and the random source it is given, and
// nothing else of the node, so that none of this state lives on Node.
//
// Node keeps one thin exported entry point per operation (below), so that
// node/api, the daemon and the tests speak to the node alone.
type access struct {
	db    *store.DB
	clock // now, and audit entries at it (audit.go)
	rand  io.Reader
	// tokenLife is tokens.operator_lifetime: the default and the longest
	// lifetime of an operator token.
	tokenLife time.Duration
	// check mints tokens and refuses, unread, those the node cannot have
	// issued (tokencheck.go).
	check tokenCheck
	// links makes and reads the markers of replaced wallet links
	// (linkmarker.go), under a key derived from check's.
	links linkMarker
	// reads counts the tokens looked up in the database.
	reads prometheus.Counter

	tokens tokenCache // principals of recently resolved tokens
	// replicaMisses remembers replica tokens not found (only its misses
	// are used): a replica's token is read on every call, so that a
	// removed replica is refused at once, but an unknown one need not be.
	replicaMisses tokenCache
	scanners      *keyedLimiter // each scanner's verification rate (Verify)
	residents     *keyedLimiter // each resident's request rate (Admit)
	operatorReads *keyedLimiter // each operator account's reads of records (reads.go)
	recentReads   recentReads   // the residents each account read lately (reads.go)
	readsMetric   *prometheus.CounterVec
}

// newAccess builds the node's access service from its settings.
func newAccess(db *store.DB, s config.Config, check tokenCheck, m *Metrics, now func() time.Time, rand io.Reader) *access {
	return &access{db: db, clock: clock{now}, rand: rand, tokenLife: s.Tokens.OperatorLifetime, check: check, links: newLinkMarker(check.key), reads: m.TokenReads,
		scanners:      newKeyedLimiter(s.Limits.ScannerRate, s.Limits.ScannerBurst),
		residents:     newKeyedLimiter(s.Limits.ResidentRate, s.Limits.ResidentBurst),
		operatorReads: newKeyedLimiter(s.Limits.OperatorReadRate, s.Limits.OperatorReadBurst), readsMetric: m.OperatorReads}
}

// Authenticate resolves a bearer token. Unknown tokens, expired operator
// tokens, and tokens of disabled scanners, accounts or deleted residents
// are EUnauthorized.
//
// A token found in the database is remembered for tokenCacheTTL (never
// past its expiry), so a scanner verifying codes back to back costs one
// database read per TTL rather than one per request. Removing a scanner,
// deleting a subject, revoking an operator token or disabling an account
// evicts the tokens concerned (see tokenCache.forget), so they are refused
// at once. A refused token is refused again without a read for
// tokenMissTTL, so that repeating an unknown or expired token, or one of
// a disabled account, costs one read per TTL too; a new token works from
// its first request. A token the node cannot have issued — its keyed
// check fails, or it is of the form tokens had before the check and was
// not among them (tokencheck.go) — is refused without a read: guessing
// costs the node an HMAC, not a database read.
func (n *Node) Authenticate(ctx context.Context, token string) (Principal, error) {
	return n.access.authenticate(ctx, token)
}

// Admit rate-limits a resident's requests, per subject
// (limits.resident_rate and limits.resident_burst), so that one resident
// token cannot take the node's time from scanners and other residents —
// rendering QR images, issuing codes, filing appeals. Other roles pass:
// scanners have their own limit (Verify), operators are staff.
func (n *Node) Admit(p Principal) error { return n.access.admit(p) }

// AddScanner registers a scanning device of a kind of place; its token
// is shown once. Operators only.
func (n *Node) AddScanner(ctx context.Context, p Principal, name, place string) (NewScanner, error) {
	return n.access.addScanner(ctx, p, name, place)
}

// Scanners lists registered scanners (never their tokens). Operators only.
func (n *Node) Scanners(ctx context.Context, p Principal) ([]store.Scanner, error) {
	return n.access.listScanners(ctx, p)
}

// RemoveScanner disables a scanner; its token stops working at once.
// Operators only. Logged at info as "scanner removed" with its id: the
// audit log is in the database, and a restore from a backup taken before
// the removal undoes it and its entry, so the log is where the operator
// finds the removals to do again (README, restore drill).
func (n *Node) RemoveScanner(ctx context.Context, p Principal, id string) error {
	if err := n.access.removeScanner(ctx, p, id); err != nil {
		return err
	}
	n.log.Info(LogScannerRemoved, "scanner", id)
	return nil
}

// The messages of the log lines by which an operator redoes, after a
// restore, the removals made since the backup: each names ids only (a
// scanner's, an account's, a token's; a replica's as the operator named
// it), never a person's name.
const (
	LogScannerRemoved       = "scanner removed"
	LogReplicaRemoved       = "replica removed"
	LogOperatorTokenRevoked = "operator token revoked"
	LogAccountDisabled      = "account disabled"
)

// CreateAccount makes a named account with role admin, operator or feed and
// its first token, labelled label and valid for tokens.operator_lifetime
// (shown once). Only an admin may; a name taken, in any case, is
// EConflict.
func (n *Node) CreateAccount(ctx context.Context, p Principal, name, role, label string) (NewAccountToken, error) {
	return n.access.createAccountFor(ctx, p, name, role, label)
}

// Accounts lists accounts with their tokens (ids, never secrets): every
// account to an admin, only their own to an operator.
func (n *Node) Accounts(ctx context.Context, p Principal) ([]Account, error) {
	return n.access.accounts(ctx, p)
}

// CreateAccountToken mints another token for an account (named by id or
// name), for lifetime, or tokens.operator_lifetime when zero. Only an
// admin may: a leaked token must not be able to outlive itself.
func (n *Node) CreateAccountToken(ctx context.Context, p Principal, ref, label string, lifetime time.Duration) (NewAccountToken, error) {
	return n.access.createAccountToken(ctx, p, ref, label, lifetime)
}

// RevokeAccountToken deletes one token of an account (by id or name); it
// is refused from the next request on, cached or not. An admin may revoke
// any token, an operator only their own account's: to an operator,
// another account is EForbidden whether it exists or not.
// Logged at info as "operator token revoked", with the account's and the
// token's ids (see RemoveScanner).
func (n *Node) RevokeAccountToken(ctx context.Context, p Principal, ref, tokenID string) error {
	account, err := n.access.revokeAccountToken(ctx, p, ref, tokenID)
	if err != nil {
		return err
	}
	n.log.Info(LogOperatorTokenRevoked, "account", account, "token_id", tokenID)
	return nil
}

// DisableAccount disables an account (by id or name) and revokes all its
// tokens at once. Only an admin may, and never the last enabled admin.
// The account stays listed, and its name is never given to another, so
// that the audit log keeps naming one person. Logged at info as "account
// disabled", with the account's id (see RemoveScanner).
func (n *Node) DisableAccount(ctx context.Context, p Principal, ref string) error {
	account, err := n.access.disableAccount(ctx, p, ref)
	if err != nil {
		return err
	}
	n.log.Info(LogAccountDisabled, "account", account)
	return nil
}

// BootstrapAdmin mints a token, labelled label, for the admin account
// name, creating the account first if there is none (the first admin,
// at init). It is audited as "system": it runs with access to the data
// directory, not through the API. An existing account of that name that
// is no admin, or is disabled, is refused.
func (n *Node) BootstrapAdmin(ctx context.Context, name, label string) (NewAccountToken, error) {
	return n.access.bootstrapAdmin(ctx, name, label)
}
