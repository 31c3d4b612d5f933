package trust

import (
	"bytes"
	"crypto/ecdsa"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// State is what one node currently trusts, and the single place that
// decides whether a new statement may change it. Statements arrive from any
// transport; none is trusted until it passes the chain: the trust list
// names members and their root keys, a root key signs its province's
// keyset, the keyset's keys sign revocations and content-key grants.
//
// Reads (Snapshot, Revoked) are lock-free and safe from any goroutine;
// Apply* calls are serialised.
type State struct {
	self   string
	encKey *ecdsa.PrivateKey // decrypts content-key grants sent to self
	pinned string            // SHA-256 of the first trust list, if any

	mu          sync.Mutex
	trustList   *ParsedTrustList
	selfMember  *Member // used while no trust list is held
	keysets     map[string]*VerifiedKeyset
	contentKeys map[string]map[string]ContentKey
	revSeq      map[string]uint64
	staleLimit  time.Duration
	lastSync    time.Time
	maxLive     int // live revocations held per province at most
	fresh       revFreshness

	snap    atomic.Pointer[Snapshot]
	revoked revokedSet
}

// StateConfig configures a State.
type StateConfig struct {
	Self         string            // this node's province id
	EncKey       *ecdsa.PrivateKey // this node's content-key-grant decryption key
	PinnedSHA256 string            // hash of the first trust list to accept
	// SelfRoot makes this province a member on its own authority while no
	// trust list is held: a standalone node trusts its own codes.
	SelfRoot *ecdsa.PublicKey
	// StaleLimit is how long trust data stays usable after the last
	// successful sync (MarkSynced); zero means only the trust list's own
	// expiry applies.
	StaleLimit time.Duration
	// MaxLiveRevocations bounds the live revocations held of one other
	// province; zero means MaxLiveRevocations. Tests lower it.
	MaxLiveRevocations int
	// RevocationsMaxAge is how old the revocations held of a province may
	// be (see RevocationsAsOf) before its codes verify as
	// revocations_stale; zero turns the check off (offline tools that
	// hold no such moment).
	RevocationsMaxAge time.Duration
	// LocalRevocations says Self's revocations are this node's own
	// (RevokeOwn, from its database): always current, so Self's codes are
	// never revocations_stale. A verifier replica, which hears its
	// province's revocations over NATS like a peer's, leaves it false.
	LocalRevocations bool
}

// NewState makes an empty State.
func NewState(cfg StateConfig) (*State, error) {
	if !isProvinceID(cfg.Self) {
		return nil, fmt.Errorf("state: province id %q is not six digits", cfg.Self)
	}
	maxLive := cfg.MaxLiveRevocations
	if maxLive <= 0 {
		maxLive = MaxLiveRevocations
	}
	s := &State{self: cfg.Self, encKey: cfg.EncKey, pinned: cfg.PinnedSHA256, staleLimit: cfg.StaleLimit, maxLive: maxLive,
		keysets: map[string]*VerifiedKeyset{}, contentKeys: map[string]map[string]ContentKey{}, revSeq: map[string]uint64{},
		fresh: newRevFreshness(cfg.RevocationsMaxAge, localRevocations(cfg))}
	s.revoked.m = map[string]map[[JTILen]byte]uint32{}
	if cfg.SelfRoot != nil {
		kid, err := Thumbprint(cfg.SelfRoot)
		if err != nil {
			return nil, err
		}
		s.selfMember = &Member{ID: cfg.Self, Status: MemberActive, Root: cfg.SelfRoot, RootKID: kid}
	}
	s.mu.Lock()
	s.rebuild()
	s.mu.Unlock()
	return s, nil
}

// localRevocations is the province whose revocations cfg says are the
// node's own, or "".
func localRevocations(cfg StateConfig) string {
	if cfg.LocalRevocations {
		return cfg.Self
	}
	return ""
}

// Snapshot returns the current immutable snapshot for Verify.
func (s *State) Snapshot() *Snapshot { return s.snap.Load() }

// Revoked reports whether iss revoked jti. It implements RevocationSet.
func (s *State) Revoked(iss, jti string) bool { return s.revoked.has(iss, jti) }

// TrustList returns the trust list held, or nil.
func (s *State) TrustList() *ParsedTrustList {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trustList
}

// Keyset returns the keyset held for province, or nil.
func (s *State) Keyset(province string) *VerifiedKeyset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keysets[province]
}

// RevocationSeq returns the last revocation seq applied for province.
func (s *State) RevocationSeq(province string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revSeq[province]
}

// ContentKeyIDs returns the ids of content keys held for province.
func (s *State) ContentKeyIDs(province string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.contentKeys[province] {
		ids = append(ids, id)
	}
	return ids
}

// MarkSynced records that the node's view was confirmed current at now.
func (s *State) MarkSynced(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSync = now
	s.rebuild()
}

// RestoreTrustList installs a trust list this node accepted before, read
// back from its own database, as the list it holds: the anchor that the
// next version must chain from (as a TUF client keeps its last trusted
// root). It checks the document and that its own operators signed it, but
// not the chain from the pinned first version, which the node already
// walked when it accepted it. It never replaces a newer list. Only ever
// pass it the node's own cache: anything received from a peer goes
// through ApplyTrustList.
func (s *State) RestoreTrustList(raw []byte) error {
	p, err := ParseTrustList(raw)
	if err != nil {
		return err
	}
	if len(p.SignedBy) < p.Threshold {
		return fail(ReasonThreshold, fmt.Sprintf("cached trust list v%d signed by %d of its operators, need %d", p.Version, len(p.SignedBy), p.Threshold))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trustList != nil && p.Version <= s.trustList.Version {
		return fail(ReasonRollback, fmt.Sprintf("cached trust list v%d, holding v%d", p.Version, s.trustList.Version))
	}
	s.trustList = p
	s.rebuild()
	return nil
}

// ApplyTrustList accepts a new trust list if AcceptTrustList allows it.
// Keysets of provinces that are no longer members, or whose root key
// changed, are dropped: they must be re-sent under the new root.
func (s *State) ApplyTrustList(raw []byte, now time.Time) error {
	next, err := ParseTrustList(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := AcceptTrustList(s.trustList, next, s.pinned, now); err != nil {
		return err
	}
	s.trustList = next
	for id, ks := range s.keysets {
		m, ok := s.member(id)
		if !ok || m.Status == MemberRemoved || ks.signedBy != m.RootKID {
			delete(s.keysets, id)
		}
	}
	s.rebuild()
	return nil
}

// member returns the member entry for province under the current trust.
// A province the trust list does not name yet (a node started before the
// operators listed it) trusts itself on its own authority, so it can serve
// its own residents; peers accept it only once the list names it.
func (s *State) member(province string) (Member, bool) {
	if s.trustList != nil {
		if m, ok := s.trustList.Members[province]; ok {
			return m, true
		}
	}
	if s.selfMember != nil && province == s.selfMember.ID {
		return *s.selfMember, true
	}
	return Member{}, false
}

// ApplyKeyset accepts a keyset for province signed by its listed root key.
func (s *State) ApplyKeyset(province, raw string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.checkKeyset(province, raw, now)
	if err != nil {
		return err
	}
	s.keysets[province] = next
	s.rebuild()
	return nil
}

// CheckKeyset reports what ApplyKeyset would answer for raw now, and
// changes nothing: a node checks its own new keyset before committing the
// key change it describes.
func (s *State) CheckKeyset(province, raw string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.checkKeyset(province, raw, now)
	return err
}

// checkKeyset parses raw and checks it against the held keyset; callers
// hold mu.
func (s *State) checkKeyset(province, raw string, now time.Time) (*VerifiedKeyset, error) {
	m, ok := s.member(province)
	if !ok || m.Status == MemberRemoved {
		return nil, fail(ReasonUnknownIssuer, province)
	}
	next, err := ParseKeyset(raw, province, m.Root)
	if err != nil {
		return nil, err
	}
	next.signedBy = m.RootKID
	if err := AcceptKeyset(s.keysets[province], next, now); err != nil {
		return nil, err
	}
	return next, nil
}

// ApplyGrant accepts a content-key grant from province addressed to this
// node. Grants to other nodes fail with ReasonNotRecipient, which callers
// should ignore quietly. A key whose id is held with other material is
// not taken: a province never makes two keys under one id, and the codes
// issued under the one held would answer bad_content here until they
// expired. The grant's other keys are applied, and the error
// (ReasonContentKeyConflict) names the ids refused. A held key past its
// expiry and the clock skew, which Prune would drop, verifies no code any
// more (none outlives its content key): it is replaced.
func (s *State) ApplyGrant(province, raw string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keysets[province]
	if ks == nil {
		return fail(ReasonUnknownIssuer, "no keyset for "+province)
	}
	if s.encKey == nil {
		return fail(ReasonNotRecipient, "this node has no encryption key")
	}
	cks, err := OpenContentKeyGrant(raw, province, ks.Signing, s.self, s.encKey)
	if err != nil {
		return err
	}
	granted := map[string]bool{}
	var conflicts []string
	for _, ck := range cks {
		if now.After(ck.Expires) {
			continue
		}
		if held, ok := s.contentKeys[province][ck.ID]; ok && !bytes.Equal(held.Key, ck.Key) && !contentKeyGone(held, now) {
			conflicts = append(conflicts, ck.ID)
			continue
		}
		s.putContentKey(province, ck)
		granted[ck.ID] = true
	}
	if len(granted) == 0 && len(conflicts) == 0 {
		return fail(ReasonExpired, "every content key in the grant has expired")
	}
	if len(granted) > 0 {
		s.trimContentKeys(province, granted)
		s.rebuild()
	}
	if len(conflicts) > 0 {
		return fail(ReasonContentKeyConflict, fmt.Sprintf("content keys %s are held with other material and were kept; "+
			"the grant's %d other keys were applied", strings.Join(conflicts, ", "), len(granted)))
	}
	return nil
}

// AddOwnContentKey installs one of this node's own content keys.
func (s *State) AddOwnContentKey(ck ContentKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putContentKey(s.self, ck)
	s.rebuild()
}

func (s *State) putContentKey(province string, ck ContentKey) {
	if s.contentKeys[province] == nil {
		s.contentKeys[province] = map[string]ContentKey{}
	}
	s.contentKeys[province][ck.ID] = ck.withAEAD() // built here once, not per Verify
}

// ApplyRevocation applies a revocation statement from province. It returns
// gap=true, and applies nothing, when the statement's seq is not the next
// one expected: the caller should then fetch a revocation snapshot. A seq
// already applied is ignored (replay) with ReasonRollback. One that would
// make more than MaxLiveRevocations of province's codes held is refused
// with ReasonOversized.
func (s *State) ApplyRevocation(province, raw string, now time.Time) (gap bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keysets[province]
	if ks == nil {
		return false, fail(ReasonUnknownIssuer, "no keyset for "+province)
	}
	r, err := ParseRevocation(raw, province, ks.Signing)
	if err != nil {
		return false, err
	}
	last := s.revSeq[province]
	if r.Seq <= last {
		return false, fail(ReasonRollback, fmt.Sprintf("revocation seq %d, holding %d", r.Seq, last))
	}
	if r.Seq != last+1 {
		return true, nil
	}
	live := Live(r.Entries, now)
	if err := s.roomFor(province, live, now); err != nil {
		return false, err
	}
	s.revoked.add(province, live, now)
	s.revSeq[province] = r.Seq
	s.settleClaims(province)
	return false, nil
}

// ApplyRevocationSnapshot replaces what is known of province's
// revocations with a signed snapshot, if it is not older than what is held.
func (s *State) ApplyRevocationSnapshot(province string, bundle []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keysets[province]
	if ks == nil {
		return fail(ReasonUnknownIssuer, "no keyset for "+province)
	}
	r, err := ParseRevocationSnapshot(bundle, province, ks.Signing)
	if err != nil {
		return err
	}
	if r.Seq < s.revSeq[province] {
		return fail(ReasonRollback, fmt.Sprintf("snapshot seq %d, holding %d", r.Seq, s.revSeq[province]))
	}
	// Revocations are never withdrawn, so adding the snapshot's entries
	// to those held replaces the set up to r.Seq without building a
	// second copy of it.
	s.revoked.addSnapshot(province, r, now, s.maxLive)
	s.revSeq[province] = r.Seq
	// Its node read the seq after the time it signed: every revocation
	// it had made by then is covered (as a heartbeat says).
	s.fresh.claim(province, r.Seq, time.Unix(r.IssuedAt, 0))
	s.settleClaims(province)
	return nil
}

// RevokeOwn records revocations of this node's own codes directly: the
// node's database is their source of truth, so they need no signature.
func (s *State) RevokeOwn(seq uint64, entries []RevocationEntry, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked.add(s.self, Live(entries, now), now)
	if seq > s.revSeq[s.self] {
		s.revSeq[s.self] = seq
	}
}

// Prune forgets revocations and content keys whose codes have all expired.
func (s *State) Prune(now time.Time) {
	s.revoked.prune(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, ks := range s.contentKeys {
		for id, ck := range ks {
			if contentKeyGone(ck, now) {
				delete(ks, id)
				changed = true
			}
		}
	}
	if changed {
		s.rebuild()
	}
}

// contentKeyGone reports whether ck verifies no code at now: every code
// issued under it expired with it, and is refused once past the clock
// skew.
func contentKeyGone(ck ContentKey, now time.Time) bool {
	return now.After(ck.Expires.Add(ClockSkew))
}

// rebuild publishes a new Snapshot from the held statements. Callers hold mu.
func (s *State) rebuild() {
	snap := &Snapshot{Members: map[string]Member{}, Keys: map[string]map[string]*Key{},
		ContentKeys: map[string]map[string]ContentKey{}, KeysetExpires: map[string]time.Time{}}
	if s.trustList != nil {
		for id, m := range s.trustList.Members {
			snap.Members[id] = m
		}
		snap.StaleAfter = s.trustList.ExpiresAt()
	}
	if _, listed := snap.Members[s.self]; !listed && s.selfMember != nil {
		snap.Members[s.self] = *s.selfMember
	}
	if s.staleLimit > 0 && !s.lastSync.IsZero() {
		if limit := s.lastSync.Add(s.staleLimit); snap.StaleAfter.IsZero() || limit.Before(snap.StaleAfter) {
			snap.StaleAfter = limit
		}
	}
	s.fresh.fill(snap)
	for id, ks := range s.keysets {
		snap.Keys[id] = ks.Signing
		snap.KeysetExpires[id] = time.Unix(ks.Expires, 0)
	}
	for id, cks := range s.contentKeys {
		c := make(map[string]ContentKey, len(cks))
		for kid, ck := range cks {
			c[kid] = ck
		}
		snap.ContentKeys[id] = c
	}
	s.snap.Store(snap)
}
