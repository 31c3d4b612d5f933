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

// Authenticate resolves a bearer token. Unknown tokens, and tokens of
// disabled scanners or deleted residents, are EUnauthorized.
func (n *Node) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return Principal{}, Errorf(EUnauthorized, "missing or malformed bearer token")
	}
	t, err := n.db.Token(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, Errorf(EUnauthorized, "unknown token")
	}
	if err != nil {
		return Principal{}, internal("authenticate", err)
	}
	return Principal{Role: Role(t.Role), SubjectID: t.SubjectID, ScannerID: t.ScannerID}, nil
}

// CreateOperatorToken makes a new operator token (shown once).
func (n *Node) CreateOperatorToken(ctx context.Context, label string) (string, error) {
	tok, hash, err := NewToken(n.rand)
	if err != nil {
		return "", err
	}
	if err := n.db.InsertToken(ctx, store.Token{Hash: hash, Role: string(RoleOperator), Label: label, Created: n.now()}); err != nil {
		return "", internal("operator token", err)
	}
	n.audit(ctx, "system", "token.operator", label, nil)
	return tok, nil
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
type scannerLimiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newScannerLimiters(perSecond float64, burst int) *scannerLimiters {
	return &scannerLimiters{rate: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

func (s *scannerLimiters) allow(id string, now time.Time) bool {
	s.mu.Lock()
	l, ok := s.m[id]
	if !ok {
		l = rate.NewLimiter(s.rate, s.burst)
		s.m[id] = l
	}
	s.mu.Unlock()
	return l.AllowN(now, 1)
}
