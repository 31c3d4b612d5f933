package trust

import (
	"crypto/ecdsa"
	"time"
)

// MemberStatus is a province's standing in the federation.
type MemberStatus string

// Member statuses.
const (
	MemberActive    MemberStatus = "active"
	MemberSuspended MemberStatus = "suspended" // its codes fail with issuer_suspended
	MemberRemoved   MemberStatus = "removed"   // it is treated as unknown
)

// Member is a province as the trust list names it.
type Member struct {
	ID        string // GB/T 2260 code, e.g. "440000"
	Name      string
	Status    MemberStatus
	Root      *ecdsa.PublicKey // signs the province's keysets
	RootKID   string
	Endpoints []string
}

// Snapshot is everything a verifier trusts at one moment. It is immutable
// once built: a node builds a new one when a statement changes it and
// swaps it in atomically, so Verify never sees a half-applied update.
type Snapshot struct {
	Members     map[string]Member                // by province id
	Keys        map[string]map[string]*Key       // province → kid → signing key
	ContentKeys map[string]map[string]ContentKey // province → content key id → key
	// StaleAfter is when this trust data stops being good enough to verify
	// with (trust list expiry, or last sync plus the configured limit).
	// Zero means no limit.
	StaleAfter time.Time
	// KeysetExpires is, by province, when the keyset its Keys come from
	// expires. Past it the province's keys verify nothing (trust_stale):
	// a peer that stops hearing a province's keysets must not trust the
	// last one it held for ever, or a key compromise announced meanwhile
	// could be frozen out. A province missing from it has no limit.
	KeysetExpires map[string]time.Time
	// RevocationsAsOf is, by province, the moment as of which this node
	// holds every revocation the province had made (see revfresh.go).
	// RevocationsMaxAge after it, a code of the province that is not
	// revoked in what is held verifies as revocations_stale: a revocation
	// made since may not have reached this node. A province absent from it
	// has no such moment yet, and is stale while the check is on.
	RevocationsAsOf map[string]time.Time
	// RevocationsMaxAge is that limit; zero turns the check off.
	RevocationsMaxAge time.Duration
	// RevocationsLocal is the province whose revocations are this node's
	// own, always current (exempt from the check); "" for none.
	RevocationsLocal string
}

// RevocationSet answers whether a code id has been revoked by its issuer.
// Implementations must be safe for concurrent reads.
type RevocationSet interface {
	Revoked(iss, jti string) bool
}

// NoRevocations is an empty RevocationSet.
type NoRevocations struct{}

// Revoked always reports false.
func (NoRevocations) Revoked(string, string) bool { return false }

// Clone returns a copy of s whose maps can be changed without touching s.
// Keys and members themselves are shared: they are never mutated.
func (s *Snapshot) Clone() *Snapshot {
	n := &Snapshot{
		Members:     make(map[string]Member, len(s.Members)),
		Keys:        make(map[string]map[string]*Key, len(s.Keys)),
		ContentKeys: make(map[string]map[string]ContentKey, len(s.ContentKeys)),
		StaleAfter:  s.StaleAfter,

		RevocationsMaxAge: s.RevocationsMaxAge,
		RevocationsLocal:  s.RevocationsLocal,
	}
	if s.RevocationsAsOf != nil {
		n.RevocationsAsOf = make(map[string]time.Time, len(s.RevocationsAsOf))
		for id, at := range s.RevocationsAsOf {
			n.RevocationsAsOf[id] = at
		}
	}
	if s.KeysetExpires != nil {
		n.KeysetExpires = make(map[string]time.Time, len(s.KeysetExpires))
		for id, exp := range s.KeysetExpires {
			n.KeysetExpires[id] = exp
		}
	}
	for id, m := range s.Members {
		n.Members[id] = m
	}
	for id, ks := range s.Keys {
		c := make(map[string]*Key, len(ks))
		for kid, k := range ks {
			c[kid] = k
		}
		n.Keys[id] = c
	}
	for id, ks := range s.ContentKeys {
		c := make(map[string]ContentKey, len(ks))
		for kid, k := range ks {
			c[kid] = k
		}
		n.ContentKeys[id] = c
	}
	return n
}
