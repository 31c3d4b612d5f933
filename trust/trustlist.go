package trust

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Operator is a federation operator: one person's key, one vote.
type Operator struct {
	ID   string          `json:"id"`
	Name string          `json:"name,omitempty"`
	JWK  json.RawMessage `json:"jwk"`
}

// MemberEntry is a province in the trust list.
type MemberEntry struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Root      json.RawMessage `json:"root"`
	Status    MemberStatus    `json:"status"`
	Endpoints []string        `json:"endpoints,omitempty"`
}

// TrustList is the federation's top-level statement: who the operators
// are, how many must sign (Threshold), and which provinces are members
// with which root keys.
type TrustList struct {
	Federation string        `json:"fed"`
	Version    uint64        `json:"version"`
	IssuedAt   int64         `json:"iat"`
	Expires    int64         `json:"exp"`
	Threshold  int           `json:"threshold"`
	Operators  []Operator    `json:"operators"`
	Members    []MemberEntry `json:"members"`
}

// ParsedTrustList is a trust list whose format and signatures were checked
// but which is not yet accepted: see AcceptTrustList.
type ParsedTrustList struct {
	TrustList
	Raw       []byte                      // the JWS JSON document
	Payload   []byte                      // the signed payload bytes
	Members   map[string]Member           // by province id
	Operators map[string]*ecdsa.PublicKey // by operator id
	// SignedBy lists the operators of this list whose signature verifies.
	SignedBy []string
	sigs     []trustListSignature
}

// ParseTrustList checks a trust list document: size, that it is the
// canonical JWS JSON general serialization SignTrustList writes, that
// every signature header is exactly ES256 with kid and typ
// hcfed-trustlist+jwt, the payload's structure and keys, and which of its
// own operators signed it.
func ParseTrustList(raw []byte) (*ParsedTrustList, error) {
	if len(raw) > MaxTrustListLen {
		return nil, fail(ReasonOversized, fmt.Sprintf("%d bytes", len(raw)))
	}
	payload, sigs, err := decodeTrustListDoc(raw)
	if err != nil {
		return nil, err
	}
	var tl TrustList
	if err := decodeStrict(payload, &tl); err != nil {
		return nil, err
	}
	p := &ParsedTrustList{TrustList: tl, Raw: raw, Payload: payload, sigs: sigs}
	if err := p.index(); err != nil {
		return nil, err
	}
	p.SignedBy = p.signers(p.Operators)
	return p, nil
}

// index validates the payload's structure and parses its keys.
func (p *ParsedTrustList) index() error {
	if p.Federation == "" || p.Version == 0 || p.Expires <= p.IssuedAt {
		return fail(ReasonMalformed, "trust list: fed, version and validity are required")
	}
	if p.Threshold < 1 || p.Threshold > len(p.TrustList.Operators) {
		return fail(ReasonMalformed, fmt.Sprintf("trust list: threshold %d of %d operators", p.Threshold, len(p.TrustList.Operators)))
	}
	p.Operators = map[string]*ecdsa.PublicKey{}
	seenKeys := map[string]bool{}
	for _, op := range p.TrustList.Operators {
		pub, kid, err := ParsePublicJWK(op.JWK)
		if err != nil {
			return err
		}
		if op.ID == "" || p.Operators[op.ID] != nil || seenKeys[kid] {
			return fail(ReasonMalformed, "trust list: operator ids and keys must be unique: "+op.ID)
		}
		p.Operators[op.ID], seenKeys[kid] = pub, true
	}
	p.Members = map[string]Member{}
	for _, m := range p.TrustList.Members {
		if !isProvinceID(m.ID) {
			return fail(ReasonMalformed, "trust list: member id "+m.ID)
		}
		if _, dup := p.Members[m.ID]; dup {
			return fail(ReasonMalformed, "trust list: duplicate member "+m.ID)
		}
		switch m.Status {
		case MemberActive, MemberSuspended, MemberRemoved:
		default:
			return fail(ReasonMalformed, "trust list: member status "+string(m.Status))
		}
		pub, kid, err := ParsePublicJWK(m.Root)
		if err != nil {
			return err
		}
		p.Members[m.ID] = Member{ID: m.ID, Name: m.Name, Status: m.Status, Root: pub, RootKID: kid, Endpoints: m.Endpoints}
	}
	return nil
}

// signers returns the ids, sorted, of the operators in ops that signed
// the document: one of its signatures names the operator key's
// thumbprint as kid and verifies with that key. An operator counts once
// however many times it signed.
func (p *ParsedTrustList) signers(ops map[string]*ecdsa.PublicKey) []string {
	var ids []string
	for id, pub := range ops {
		kid, err := Thumbprint(pub)
		if err != nil {
			continue
		}
		for _, sig := range p.sigs {
			if sig.kid == kid && verifyES256(pub, sig.input, sig.sig) {
				ids = append(ids, id)
				break
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// SignedWith reports whether one of the document's signatures is by pub
// (its kid is pub's thumbprint and it verifies), whether or not pub is
// one of the list's operators: a leaving operator signs for the list it
// leaves.
func (p *ParsedTrustList) SignedWith(pub *ecdsa.PublicKey) bool {
	return len(p.signers(map[string]*ecdsa.PublicKey{"": pub})) == 1
}

// SHA256 is the hex SHA-256 of the document, for pinning at install.
func (p *ParsedTrustList) SHA256() string {
	h := sha256.Sum256(p.Raw)
	return hex.EncodeToString(h[:])
}

// ExpiresAt is the trust list's expiry as a time.
func (p *ParsedTrustList) ExpiresAt() time.Time { return time.Unix(p.Expires, 0) }

// TrustListRefusals returns every reason ParseTrustList and
// AcceptTrustList refuse a trust list with. A node's metrics start a
// counter at 0 for each, so that an alert on the rise of a refusal
// count fires at the first refusal rather than staying silent until the
// second.
func TrustListRefusals() []Reason {
	return []Reason{ReasonOversized, ReasonMalformed, ReasonBadHeader, ReasonBadAlgorithm, ReasonWrongType,
		ReasonExpired, ReasonWrongSigner, ReasonRollback, ReasonThreshold}
}

// AcceptTrustList decides whether next may replace held. With no held list
// (first install) next must match the pinned SHA-256. Every rule is here:
//   - not expired (a frozen list cannot be replayed forever);
//   - version greater than held (no rollback, no replay);
//   - signed by Threshold distinct operators of held (an attacker without
//     k current operator keys cannot rotate the operators);
//   - signed by its own Threshold distinct operators (the new set agrees).
func AcceptTrustList(held, next *ParsedTrustList, pinnedSHA256 string, now time.Time) error {
	if now.After(next.ExpiresAt()) {
		return fail(ReasonExpired, fmt.Sprintf("trust list v%d expired at %s", next.Version, next.ExpiresAt().UTC().Format(time.RFC3339)))
	}
	if held == nil {
		if pinnedSHA256 == "" || next.SHA256() != pinnedSHA256 {
			return fail(ReasonWrongSigner, "first trust list does not match the pinned SHA-256")
		}
	} else {
		if next.Federation != held.Federation {
			return fail(ReasonWrongSigner, "trust list of another federation: "+next.Federation)
		}
		if next.Version <= held.Version {
			return fail(ReasonRollback, fmt.Sprintf("trust list v%d, holding v%d", next.Version, held.Version))
		}
		if n := len(next.signers(held.Operators)); n < held.Threshold {
			return fail(ReasonThreshold, fmt.Sprintf("signed by %d of the current operators, need %d", n, held.Threshold))
		}
	}
	if n := len(next.SignedBy); n < next.Threshold {
		return fail(ReasonThreshold, fmt.Sprintf("signed by %d of its own operators, need %d", n, next.Threshold))
	}
	return nil
}
