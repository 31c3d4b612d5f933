package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hcfed/hcfed/node/store"
)

// Role is what a bearer token may do.
type Role string

// Roles.
const (
	RoleOperator Role = "operator" // provincial health authority staff
	RoleScanner  Role = "scanner"  // a registered scanning device: verify only
	RoleResident Role = "resident" // one resident: their own record only
)

// Principal is an authenticated caller.
type Principal struct {
	Role      Role
	SubjectID string // residents
	ScannerID string // scanners
	Place     string // scanners: their kind of place, recorded with each verification
	// Operators: the account the token belongs to (admin accounts are
	// operators who may also manage accounts), the token's id, and when
	// it stops working.
	AccountID string
	Account   string
	Admin     bool
	TokenID   string
	Expires   time.Time
}

// Actor is how the audit log names p: an operator by account,
// "admin:<name>" or "operator:<name>"; scanners and residents by role.
// An operator principal without an account (made in code, not from a
// token) is "operator".
func (p Principal) Actor() string {
	switch {
	case p.Role != RoleOperator || p.Account == "":
		return string(p.Role)
	case p.Admin:
		return AccountAdmin + ":" + p.Account
	default:
		return AccountOperator + ":" + p.Account
	}
}

// tokenPrefix marks HCFed tokens so that secret scanners can find leaks.
const tokenPrefix = "hct_"

// NewToken draws a random bearer token and returns it with its hash. Only
// the hash is stored; the token is shown once.
func NewToken(r io.Reader) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", nil, err
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok), nil
}

// HashToken is the stored form of a token.
func HashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
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
// at once.
func (n *Node) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return Principal{}, Errorf(EUnauthorized, "missing or malformed bearer token")
	}
	hash := sha256.Sum256([]byte(token))
	now := n.now()
	cache := n.tokenCache()
	if p, ok := cache.get(hash, now); ok {
		return p, nil
	}
	gen := cache.generation()
	t, err := n.db.Token(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, Errorf(EUnauthorized, "unknown token")
	}
	if err != nil {
		return Principal{}, internal("authenticate", err)
	}
	p := Principal{Role: Role(t.Role), SubjectID: t.SubjectID, ScannerID: t.ScannerID}
	switch p.Role {
	case RoleScanner:
		sc, err := n.db.Scanner(ctx, t.ScannerID)
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, Errorf(EUnauthorized, "unknown token")
		}
		if err != nil {
			return Principal{}, internal("authenticate", err)
		}
		p.Place = sc.Place
	case RoleOperator:
		if p, err = n.operatorPrincipal(ctx, t, now); err != nil {
			return Principal{}, err
		}
	}
	cache.put(hash, p, gen, now)
	return p, nil
}

// operatorPrincipal resolves an operator token to its account, refusing
// an expired token or a disabled account.
func (n *Node) operatorPrincipal(ctx context.Context, t store.Token, now time.Time) (Principal, error) {
	if !now.Before(t.Expires) {
		return Principal{}, Errorf(EUnauthorized, "token expired; ask an admin for a new one")
	}
	a, err := n.db.Account(ctx, t.AccountID)
	if errors.Is(err, store.ErrNotFound) || err == nil && a.Disabled {
		return Principal{}, Errorf(EUnauthorized, "unknown token")
	}
	if err != nil {
		return Principal{}, internal("authenticate", err)
	}
	return Principal{Role: RoleOperator, AccountID: a.ID, Account: a.Name, Admin: a.Role == AccountAdmin,
		TokenID: t.ID, Expires: t.Expires}, nil
}

func require(p Principal, roles ...Role) error {
	for _, r := range roles {
		if p.Role == r {
			return nil
		}
	}
	return Errorf(EForbidden, "this token may not do that")
}

// requireSubject allows operators, and the resident whose record it is.
func requireSubject(p Principal, subjectID string) error {
	if p.Role == RoleOperator || (p.Role == RoleResident && p.SubjectID == subjectID) {
		return nil
	}
	return Errorf(EForbidden, "this token may not reach that record")
}

// scannerLimiters rate-limits each scanner separately.
//
// It also holds the node's token cache, only because Node gains no new
// field in this change; tokenCache is the one place that reaches it.
type scannerLimiters struct {
	keyedLimiter

	tokens tokenCache
}

func newScannerLimiters(perSecond float64, burst int) *scannerLimiters {
	s := &scannerLimiters{}
	s.keyedLimiter.init(perSecond, burst)
	return s
}

// ScannerLimiter rate-limits each scanner separately, at
// limits.scanner_rate and limits.scanner_burst, as Verify does; a
// verifier replica limits its scanners with it.
type ScannerLimiter struct{ k *keyedLimiter }

// NewScannerLimiter makes a ScannerLimiter.
func NewScannerLimiter(perSecond float64, burst int) ScannerLimiter {
	return ScannerLimiter{k: newKeyedLimiter(perSecond, burst)}
}

// Allow reports whether scanner id may verify one more code at now.
func (l ScannerLimiter) Allow(id string, now time.Time) bool { return l.k.allow(id, now) }

// limiterPruneAt is how many keys a keyedLimiter holds before it drops
// the limiters that are full again.
const limiterPruneAt = 4096

// keyedLimiter rate-limits each key (a scanner id, a subject id)
// separately, with one token bucket per key.
type keyedLimiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	m       map[string]*rate.Limiter
	pruneAt int
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	k := &keyedLimiter{}
	k.init(perSecond, burst)
	return k
}

func (k *keyedLimiter) init(perSecond float64, burst int) {
	k.rate, k.burst, k.m, k.pruneAt = rate.Limit(perSecond), burst, map[string]*rate.Limiter{}, limiterPruneAt
}

func (k *keyedLimiter) allow(id string, now time.Time) bool {
	k.mu.Lock()
	l, ok := k.m[id]
	if !ok {
		if len(k.m) >= k.pruneAt {
			k.prune(now)
		}
		l = rate.NewLimiter(k.rate, k.burst)
		k.m[id] = l
	}
	k.mu.Unlock()
	return l.AllowN(now, 1)
}

// prune drops the limiters whose bucket is full again — a new one would
// be the same — so that a limiter per resident does not grow with every
// resident ever seen. It runs again only once the map has doubled, so its
// cost per call stays constant.
func (k *keyedLimiter) prune(now time.Time) {
	for id, l := range k.m {
		if l.TokensAt(now) >= float64(k.burst) {
			delete(k.m, id)
		}
	}
	k.pruneAt = max(limiterPruneAt, 2*len(k.m))
}

// Admit rate-limits a resident's requests, per subject
// (limits.resident_rate and limits.resident_burst), so that one resident
// token cannot take the node's time from scanners and other residents —
// rendering QR images, issuing codes, filing appeals. Other roles pass:
// scanners have their own limit (Verify), operators are staff.
func (n *Node) Admit(p Principal) error {
	if p.Role != RoleResident {
		return nil
	}
	if !n.residentLimits.allow(p.SubjectID, n.now()) {
		return Errorf(ERateLimited, "too many requests from this resident; slow down")
	}
	return nil
}

// Token cache limits.
const (
	// tokenCacheTTL bounds how long a resolved token is trusted without
	// reading the database again. Revocations through this node do not
	// wait for it (forget evicts at once); it only bounds how long a token
	// deleted behind the node's back — by another process on the same
	// database — keeps working.
	tokenCacheTTL = 2 * time.Second
	// tokenCacheMax bounds the cache's memory. Only tokens found in the
	// database are cached, so unknown tokens cannot fill it.
	tokenCacheMax = 4096
)

// tokenCache remembers principals of recently resolved tokens, keyed by
// token hash (the token itself is never kept).
type tokenCache struct {
	mu sync.RWMutex
	// gen counts forget calls. A lookup that read the database while a
	// forget ran may have read a token just deleted; put refuses it.
	gen uint64
	m   map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	p       Principal
	expires time.Time
}

// tokenCache is the node's token cache.
func (n *Node) tokenCache() *tokenCache { return &n.limiters.tokens }

// get returns the cached principal for hash, if it has not expired at now.
func (c *tokenCache) get(hash [sha256.Size]byte, now time.Time) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[hash]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

// generation is read before the database is, and handed to put.
func (c *tokenCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches p for hash unless a forget ran since gen was read: the
// database read it came from may predate that deletion. An operator
// token is cached no later than its expiry, so that get never returns an
// expired one.
func (c *tokenCache) put(hash [sha256.Size]byte, p Principal, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]cachedToken)
	}
	if len(c.m) >= tokenCacheMax {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= tokenCacheMax {
			clear(c.m)
		}
	}
	until := now.Add(tokenCacheTTL)
	if !p.Expires.IsZero() && p.Expires.Before(until) {
		until = p.Expires
	}
	c.m[hash] = cachedToken{p: p, expires: until}
}

// forget evicts every cached token of the owner with role and id (a
// scanner id or a subject id). Call it once the owner's tokens are
// deleted from the database, whatever the outcome was: evicting too much
// only costs a read.
func (c *tokenCache) forget(role Role, id string) {
	c.evict(func(p Principal) bool {
		return p.Role == role && (role == RoleScanner && p.ScannerID == id || role == RoleResident && p.SubjectID == id)
	})
}

// forgetAccount evicts the cached token tokenID of an account, or all of
// its tokens when tokenID is empty; as forget, after the database change.
func (c *tokenCache) forgetAccount(accountID, tokenID string) {
	c.evict(func(p Principal) bool {
		return p.Role == RoleOperator && p.AccountID == accountID && (tokenID == "" || p.TokenID == tokenID)
	})
}

// evict drops every cached principal that match selects, and makes puts
// of database reads begun before it fail.
func (c *tokenCache) evict(match func(Principal) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if match(e.p) {
			delete(c.m, k)
		}
	}
}
