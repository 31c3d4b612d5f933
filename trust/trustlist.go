package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
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
	jws      *jose.JSONWebSignature
}

// ParseTrustList checks a trust list document: size, JWS JSON form, that
// every signature header is ES256 with typ hcfed-trustlist+jwt and nothing
// else, the payload's structure and keys, and which of its own operators
// signed it.
func ParseTrustList(raw []byte) (*ParsedTrustList, error) {
	if len(raw) > MaxTrustListLen {
		return nil, fail(ReasonOversized, fmt.Sprintf("%d bytes", len(raw)))
	}
	canon, err := checkTrustListHeaders(raw)
	if err != nil {
		return nil, err
	}
	// go-jose parses the document exactly as checked, re-encoded: its JSON
	// reader is case-sensitive and ours is not, so handing it raw would
	// let {"signatures":[A],"Signatures":[B]} have B's headers checked and
	// A's signatures counted.
	jws, err := jose.ParseSignedJSON(string(canon), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fail(ReasonMalformed, "trust list: "+err.Error())
	}
	payload := jws.UnsafePayloadWithoutVerification()
	var tl TrustList
	if err := decodeStrict(payload, &tl); err != nil {
		return nil, err
	}
	p := &ParsedTrustList{TrustList: tl, Raw: raw, Payload: payload, jws: jws}
	if err := p.index(); err != nil {
		return nil, err
	}
	p.SignedBy = p.signers(p.Operators)
	return p, nil
}

// trustListDoc is a trust list document: the JWS JSON general
// serialization, one signature per operator.
type trustListDoc struct {
	Payload    string         `json:"payload"`
	Signatures []trustListSig `json:"signatures"`
}

type trustListSig struct {
	Protected string          `json:"protected"`
	Header    json.RawMessage `json:"header,omitempty"`
	Signature string          `json:"signature"`
}

// checkTrustListHeaders reads the document's raw JSON and holds every
// signature's protected header to the same rule as compact statements:
// alg ES256, typ hcfed-trustlist+jwt, kid, and nothing else; no
// unprotected headers; general serialization only. It returns the
// document re-encoded as read, for go-jose to parse.
func checkTrustListHeaders(raw []byte) ([]byte, error) {
	var doc trustListDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fail(ReasonMalformed, "trust list: "+err.Error())
	}
	if dec.More() {
		return nil, fail(ReasonMalformed, "trust list: trailing data")
	}
	if len(doc.Signatures) == 0 || len(doc.Signatures) > MaxTrustListSignatures {
		return nil, fail(ReasonMalformed, fmt.Sprintf("trust list: %d signatures", len(doc.Signatures)))
	}
	for _, sig := range doc.Signatures {
		if len(sig.Header) > 0 {
			return nil, fail(ReasonBadHeader, "trust list: unprotected header")
		}
		if _, err := decodeHeader(sig.Protected, TypTrustList); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
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

// signers returns the ids, sorted, of the operators in ops whose key made
// one of the document's signatures. An operator counts once however many
// times it signed.
func (p *ParsedTrustList) signers(ops map[string]*ecdsa.PublicKey) []string {
	var ids []string
	for id, pub := range ops {
		if _, _, _, err := p.jws.VerifyMulti(pub); err == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// SHA256 is the hex SHA-256 of the document, for pinning at install.
func (p *ParsedTrustList) SHA256() string {
	h := sha256.Sum256(p.Raw)
	return hex.EncodeToString(h[:])
}

// ExpiresAt is the trust list's expiry as a time.
func (p *ParsedTrustList) ExpiresAt() time.Time { return time.Unix(p.Expires, 0) }

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

// SignTrustList adds one operator's signature to a trust list. doc is the
// document signed so far, or nil to start from payload; key signs payload
// as found in doc when doc is given. Payload bytes are signed as they are,
// so every operator signs exactly the same bytes. The result is always
// the general serialization, even with one signature.
func SignTrustList(doc, payload []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	var out trustListDoc
	if doc != nil {
		held, err := readTrustListDoc(doc)
		if err != nil {
			return nil, err
		}
		out = held
	}
	if out.Payload != "" {
		p, err := base64.RawURLEncoding.DecodeString(out.Payload)
		if err != nil {
			return nil, fmt.Errorf("trust list document: payload: %w", err)
		}
		payload = p
	}
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType(TypTrustList)
	sk := jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}
	sg, err := jose.NewSigner(sk, opts)
	if err != nil {
		return nil, err
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		return nil, err
	}
	jws, err := obj.CompactSerialize()
	if err != nil {
		return nil, err
	}
	h64, rest, _ := strings.Cut(jws, ".")
	p64, sig64, _ := strings.Cut(rest, ".")
	if out.Payload == "" {
		out.Payload = p64
	}
	out.Signatures = append(out.Signatures, trustListSig{Protected: h64, Signature: sig64})
	return json.Marshal(out)
}

// readTrustListDoc reads a document signed so far, in the general form or
// the flattened form earlier versions wrote for a single signature.
func readTrustListDoc(doc []byte) (trustListDoc, error) {
	var d struct {
		trustListDoc
		trustListSig
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return trustListDoc{}, fmt.Errorf("trust list document: %w", err)
	}
	out := d.trustListDoc
	if d.Protected != "" || d.Signature != "" {
		out.Signatures = append([]trustListSig{d.trustListSig}, out.Signatures...)
	}
	if out.Payload == "" {
		return trustListDoc{}, fmt.Errorf("trust list document: no payload")
	}
	return out, nil
}
