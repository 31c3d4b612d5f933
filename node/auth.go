package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// Role is what a bearer token may do.
type Role string

// Roles.
const (
	RoleOperator Role = "operator" // provincial health authority staff
	RoleScanner  Role = "scanner"  // a registered scanning device: verify only
	RoleResident Role = "resident" // one resident: their own record only
	// RoleFeed is a feed account's token: the province's health-code
	// platform sending status changes (SetStatus, BulkStatus), and nothing
	// else, so that a stolen feed token reads no resident and issues no
	// code.
	RoleFeed Role = "feed"
)

// Principal is an authenticated caller.
type Principal struct {
	Role      Role
	SubjectID string // residents
	ScannerID string // scanners
	Place     string // scanners: their kind of place, recorded with each verification
	// Operators and feeds: the account the token belongs to (admin
	// accounts are operators who may also manage accounts), the token's
	// id, and when it stops working.
	AccountID string
	Account   string
	Admin     bool
	TokenID   string
	Expires   time.Time
	// tokenHash is the SHA-256 of the token it was authenticated with
	// (empty for a principal made in code): a resident's code is recorded
	// only while that token exists (store.Code.Token).
	tokenHash string
}

// Actor is how the audit log names p: an account by its role and name,
// "admin:<name>", "operator:<name>" or "feed:<name>"; a scanner by its
// id, "scanner:<id>"; a resident by role alone, "resident". A principal
// without an account or scanner (made in code, not from a token) is its
// role.
func (p Principal) Actor() string {
	switch {
	case p.Role == RoleScanner && p.ScannerID != "":
		return string(RoleScanner) + ":" + p.ScannerID
	case p.Account == "":
		return string(p.Role)
	case p.Admin:
		return AccountAdmin + ":" + p.Account
	default:
		return string(p.Role) + ":" + p.Account
	}
}

// tokenPrefix marks HCFed tokens so that secret scanners can find leaks.
const tokenPrefix = "hct_"

// newToken mints a bearer token with its check (tokencheck.go) and
// returns it with its hash. Only the hash is stored; the token is shown
// once.
func (a *access) newToken() (string, []byte, error) { return a.check.mint(a.rand) }

// HashToken is the stored form of a token.
func HashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// authenticate resolves a bearer token (see Node.Authenticate). A token
// found in the database is cached for tokenCacheTTL, never past its
// expiry; the writes that delete tokens evict them (see tokenCache.forget).
// A token refused after a read (unknown, expired, of a disabled account
// or scanner) is refused again unread for tokenMissTTL. A token the node
// cannot have issued (its check fails) is refused unread, at any rate.
func (a *access) authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return Principal{}, Errorf(EUnauthorized, "missing or malformed bearer token")
	}
	hash := sha256.Sum256([]byte(token))
	now := a.now()
	cache := &a.tokens
	if p, ok := cache.get(hash, now); ok {
		return p, nil
	}
	if !a.check.mayExist(token, hash) {
		return Principal{}, Errorf(EUnauthorized, "unknown token")
	}
	if refusal := cache.missed(hash, now); refusal != nil {
		return Principal{}, refusal
	}
	gen := cache.generation()
	a.reads.Inc()
	p, err := a.readPrincipal(ctx, hash, now)
	p.tokenHash = string(hash[:])
	var refusal *Error
	if errors.As(err, &refusal) && refusal.Code == EUnauthorized {
		cache.putMiss(hash, gen, now, refusal)
	}
	if err != nil {
		return Principal{}, err
	}
	cache.put(hash, p, gen, now)
	return p, nil
}

// readPrincipal reads the token with hash, and its scanner or account,
// from the database; a token that does not resolve is EUnauthorized.
func (a *access) readPrincipal(ctx context.Context, hash [sha256.Size]byte, now time.Time) (Principal, error) {
	t, err := a.db.Token(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, Errorf(EUnauthorized, "unknown token")
	}
	if err != nil {
		return Principal{}, internal("authenticate", err)
	}
	p := Principal{Role: Role(t.Role), SubjectID: t.SubjectID, ScannerID: t.ScannerID}
	switch p.Role {
	case RoleScanner:
		sc, err := a.db.Scanner(ctx, t.ScannerID)
		if errors.Is(err, store.ErrNotFound) || err == nil && sc.Disabled {
			return Principal{}, Errorf(EUnauthorized, "unknown token")
		}
		if err != nil {
			return Principal{}, internal("authenticate", err)
		}
		p.Place = sc.Place
	case RoleOperator:
		return a.operatorPrincipal(ctx, t, now)
	}
	return p, nil
}

// operatorPrincipal resolves an account's token (stored with role
// operator) to its account, refusing an expired token or a disabled
// account. A feed account's token is RoleFeed.
func (a *access) operatorPrincipal(ctx context.Context, t store.Token, now time.Time) (Principal, error) {
	if !now.Before(t.Expires) {
		return Principal{}, Errorf(EUnauthorized, "token expired; ask an admin for a new one")
	}
	acc, err := a.db.Account(ctx, t.AccountID)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.Disabled {
		return Principal{}, Errorf(EUnauthorized, "unknown token")
	}
	if err != nil {
		return Principal{}, internal("authenticate", err)
	}
	role := RoleOperator
	if acc.Role == AccountFeed {
		role = RoleFeed
	}
	return Principal{Role: role, AccountID: acc.ID, Account: acc.Name, Admin: acc.Role == AccountAdmin,
		TokenID: t.ID, Expires: t.Expires}, nil
}

// require allows only the given roles.
func require(p Principal, roles ...Role) error {
	for _, r := range roles {
		if p.Role == r {
			return nil
		}
	}
	return forbidden(p, "this token may not do that")
}

// forbidden is the EForbidden refusal of p, with msg; a feed's token is
// told what it may do instead, so that the platform's operator sees at
// once that the token is a feed's, not a broken one.
func forbidden(p Principal, msg string) error {
	if p.Role == RoleFeed {
		return Errorf(EForbidden, "this token is a feed account's (role feed): the feed role may only send status changes "+
			"(POST /v1/statuses, PUT /v1/subjects/{id}/status); use an operator's token for anything else")
	}
	return Errorf(EForbidden, "%s", msg)
}

// requireSubject allows operators, and the resident whose record it is.
func requireSubject(p Principal, subjectID string) error {
	if p.Role == RoleOperator || (p.Role == RoleResident && p.SubjectID == subjectID) {
		return nil
	}
	return forbidden(p, "this token may not reach that record")
}

// admit rate-limits a resident's requests (see Node.Admit).
func (a *access) admit(p Principal) error {
	if p.Role != RoleResident {
		return nil
	}
	if !a.residents.allow(p.SubjectID, a.now()) {
		return Errorf(ERateLimited, "too many requests from this resident; slow down")
	}
	return nil
}

// admitScan rate-limits scanner id's verifications, at
// limits.scanner_rate and limits.scanner_burst.
func (a *access) admitScan(id string, now time.Time) error {
	if !a.scanners.allow(id, now) {
		return Errorf(ERateLimited, "too many verifications from this scanner; slow down")
	}
	return nil
}

// tokenCreated tells the token cache that a token with hash is in the
// database now (see tokenCache.created). Call it after the write,
// whatever its outcome.
func (a *access) tokenCreated(hash []byte) { a.tokens.created(hash) }

// forgetResident evicts the cached tokens of subject id, once its tokens
// are deleted from the database.
func (a *access) forgetResident(id string) { a.tokens.forget(RoleResident, id) }
