package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Cross-province identity lookup, the asking side (seed rules 6 and 11):
// this province's health authority must contact a traveler whose code
// another province issued. Only the home node holds their name and phone
// number; it answers an active member that states a legal basis and a
// case, records the request where its resident can see it, and seals the
// answer to this node. This node shows the contact data to the operator
// once and keeps it sealed for privacy.retention.lookups, no longer.

// Audit actions of lookups, at both ends.
const (
	actionLookupRequest = "lookup.request" // asker: sent, before the answer
	actionLookupResult  = "lookup.result"  // asker: what came back
	actionLookupAnswer  = "lookup.answer"  // home: answered (target: the subject, when found)
	actionLookupRefuse  = "lookup.refuse"  // home: refused, and why
)

// lookupTimeout bounds how long an operator waits for the home node.
const lookupTimeout = 5 * time.Second

// lookupAnswerRefused is the event of hcfed_peer_lookups_total that
// counts replies to this node's own lookups that failed their checks.
const lookupAnswerRefused = "answer_refused"

// lookups owns cross-province identity lookups at both ends: asking a
// code's home province for its holder's contact data, for an operator
// (this file), answering another province's request for a resident's
// (lookup_answer.go), and telling a resident of every answer (LookupsOf).
// It keeps no state in memory: the sealed contact data is in the
// database, the answers are in the audit log, and the per-province rate
// limit and replay cache of requests are the connected Peers' (built anew
// with each connection). It reaches the database, the KEK, the trust
// state, the node's keys (to sign and to open), the province and
// privacy.retention.lookups settings, the clock and the random source it
// is given, Node.peers to reach other provinces, the auditor to record
// every step, the key of the case tags it records instead of case ids
// (lookupcase.go), and the node's logger and metrics for the erasures it
// sends and applies (erasure.go); none of this state lives on Node.
//
// Node keeps one thin exported entry point per operation (below), so that
// node/api and the tests speak to the node alone.
type lookups struct {
	db        *store.DB
	kek       *seal.Key
	state     *trust.State
	keys      *keySchedule // its statement signer and encryption key
	province  string
	retention time.Duration // privacy.retention.lookups
	now       func() time.Time
	rand      io.Reader
	peers     *atomic.Pointer[Peers] // Node.peers: set while connected
	auditor   *auditor
	caseKey   []byte // keys the case tags of the audit log (lookupcase.go)
	log       *slog.Logger
	metrics   *Metrics
	access    *access // charges and audits operators' reads (reads.go)
	// erasureKick wakes the erasure sender when a deletion queued
	// erasures (erasure.go).
	erasureKick chan struct{}
}

// newLookups builds the node's lookup service.
func newLookups(db *store.DB, kek *seal.Key, state *trust.State, keys *keySchedule, s config.Config,
	now func() time.Time, rand io.Reader, peers *atomic.Pointer[Peers], a *auditor, caseKey []byte, log *slog.Logger, m *Metrics,
	acc *access) *lookups {
	return &lookups{db: db, kek: kek, state: state, keys: keys, province: s.Province,
		retention: s.Privacy.Retention.Lookups, now: now, rand: rand, peers: peers, auditor: a, caseKey: caseKey,
		log: log, metrics: m, access: acc, erasureKick: make(chan struct{}, 1)}
}

// caseTag is the tag the audit log keeps for caseID (lookupcase.go).
func (l *lookups) caseTag(caseID string) string { return caseTag(l.caseKey, caseID) }

// audit records a step of a lookup in the background, at the lookup
// service's clock (see newAuditEntry).
func (l *lookups) audit(actor, action, target string, detail any) {
	l.auditor.add(newAuditEntry(l.now(), actor, action, target, detail))
}

// LookupInput names the code, as its text or as issuer and jti, and why.
type LookupInput struct {
	Code       string `json:"code"`
	Issuer     string `json:"iss"`
	JTI        string `json:"jti"`
	LegalBasis string `json:"legal_basis"`
	CaseID     string `json:"case_id"`
}

// LookupResult is what the operator is shown, once.
type LookupResult struct {
	Found   bool       `json:"found"`
	Name    string     `json:"name,omitempty"`
	Phone   string     `json:"phone,omitempty"`
	Expires *time.Time `json:"expires,omitempty"` // when this node deletes its sealed copy
}

// Lookup asks the home node of a code for the contact data of its holder,
// for an operator, stating a legal basis and a case. Every step is in the
// audit log; the contact data is kept sealed under the KEK until the
// lookup retention ends.
func (n *Node) Lookup(ctx context.Context, p Principal, in LookupInput) (LookupResult, error) {
	// The answer shows a traveller's name and phone in clear: a read,
	// charged to the account (reads.go); lookup.request audits it.
	if err := n.access.chargeReads(p, readLookup, 1); err != nil {
		return LookupResult{}, err
	}
	return n.lookups.lookup(ctx, p, in)
}

// lookup asks for a contact; see Node.Lookup.
func (l *lookups) lookup(ctx context.Context, p Principal, in LookupInput) (LookupResult, error) {
	if err := Permit(p, OpLookup, ""); err != nil {
		return LookupResult{}, err
	}
	home, jti, proof, err := l.target(in)
	if err != nil {
		return LookupResult{}, err
	}
	nonce, err := trust.NewNonce(l.rand)
	if err != nil {
		return LookupResult{}, internal("lookup", err)
	}
	now := l.now()
	req := trust.LookupRequest{Issuer: l.province, To: home, JTI: jti, Proof: proof, LegalBasis: in.LegalBasis,
		CaseID: in.CaseID, IssuedAt: now.Unix(), Nonce: nonce}
	// Validate checks the proof last: a lookup by issuer and jti has none
	// yet, and reads it from this node's records only once the rest holds.
	if err := req.Validate(); err != nil && trust.ReasonOf(err) != trust.ReasonLookupUnproven {
		msg := err.Error()
		if te := (*trust.Error)(nil); errors.As(err, &te) {
			msg = te.Detail
		}
		return LookupResult{}, Errorf(EInvalid, "%s", msg)
	}
	if !activeMember(l.state, home) {
		return LookupResult{}, Errorf(EInvalid, "%s is not an active member of the federation", home)
	}
	if req.Proof == "" {
		if req.Proof, err = l.scannedProof(ctx, home, jti); err != nil {
			return LookupResult{}, internal("lookup", err)
		}
		if req.Proof == "" {
			return LookupResult{}, errNotScanned(home)
		}
	}
	peers := l.peers.Load()
	if peers == nil {
		return LookupResult{}, Errorf(EUnavailable, "%v; try again later", errNoPeers)
	}
	ks, err := peerKeys(l.state, home)
	if err != nil || ks.EncKey == nil {
		return LookupResult{}, Errorf(EUnavailable, "no encryption key of %s held yet; try again later", home)
	}
	raw, err := trust.SealLookupRequest(l.keys.signer.Load(), req, ks.EncKey)
	if err != nil {
		return LookupResult{}, internal("lookup", err)
	}
	basis, err := l.sealBasis(ctx, in.LegalBasis, now, nil, "")
	if err != nil {
		return LookupResult{}, internal("lookup", err)
	}
	target, actor, tag := hashJTI(home, jti), p.Actor(), l.caseTag(in.CaseID)
	l.audit(actor, actionLookupRequest, target, basis.into(map[string]any{"to": home, "case": tag}))
	res, err := l.ask(ctx, peers, &req, []byte(raw))
	if err != nil {
		l.audit(actor, actionLookupResult, target, map[string]any{"to": home, "case": tag, "outcome": "no_answer"})
		if errors.Is(err, federation.ErrNoResponders) {
			return LookupResult{}, Errorf(EUnavailable, "no node of %s is reachable; try again later", home)
		}
		return LookupResult{}, Errorf(EUnavailable, "%s did not answer; try again later", home)
	}
	return l.answered(ctx, actor, &req, target, res)
}

// target resolves the code looked up: from its text, with its proof of
// scan, or from issuer and jti as an operator read them (the proof is
// then read from this node's records: scannedProof).
func (l *lookups) target(in LookupInput) (home, jti, proof string, err error) {
	switch {
	case in.Code != "" && (in.Issuer != "" || in.JTI != ""):
		return "", "", "", Errorf(EInvalid, "give either code or iss and jti, not both")
	case in.Code != "":
		// The code need not be valid now (a revoked or expired code
		// still names its holder, and its key may be gone): its issuer,
		// id and proof of scan are all that is read, and whether the
		// proof is the code's is for the home node to say.
		res := trust.Verify(in.Code, l.state.Snapshot(), nil, l.now())
		if res.Issuer == "" || res.JTI == "" {
			return "", "", "", Errorf(EInvalid, "code is not a health code (%s)", res.Reason)
		}
		if proof, err = trust.ScanProof(in.Code); err != nil {
			return "", "", "", Errorf(EInvalid, "code is not a health code (%s)", trust.ReasonOf(err))
		}
		home, jti = res.Issuer, res.JTI
	default:
		home, jti = in.Issuer, in.JTI
	}
	if home == l.province {
		return "", "", "", Errorf(EInvalid, "that is a code of this province: its holder's record is here")
	}
	return home, jti, proof, nil
}

// errNotScanned refuses a lookup by issuer and jti of a code this node
// holds no verification of: nothing would prove to home that it was seen.
func errNotScanned(home string) error {
	return Errorf(ELookupNotScanned, "this node has no record of verifying that code of %s, and %s answers only a lookup "+
		"that proves the code was seen: ask again giving the code itself (its full HCF1: text, as scanned) instead of its "+
		"issuer and id", home, home)
}

// ask sends a sealed request to its home node over p and waits, up to
// lookupTimeout, for an answer that verifies. Anyone who sees the
// request's reply subject can answer too: a reply that does not verify
// is skipped (the real answer is not displaced), counted
// (lookupAnswerRefused) and logged at most at peerRefusedNoteRate.
func (l *lookups) ask(ctx context.Context, p *Peers, req *trust.LookupRequest, raw []byte) (trust.LookupResult, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var res trust.LookupResult
	_, err := p.conn.RequestLookup(ctx, req.To, raw, func(reply []byte) error {
		ks, err := peerKeys(l.state, req.To)
		if err != nil {
			return err
		}
		now := l.now()
		res, err = trust.OpenLookupAnswer(string(reply), req, ks.Signing, l.keys.encKey(), now)
		if err != nil {
			p.answerRefusals.refuse(p.log, req.To, err, now)
		}
		return err
	})
	return res, err
}

// answered records and returns a verified answer.
func (l *lookups) answered(ctx context.Context, actor string, req *trust.LookupRequest, target string, res trust.LookupResult) (LookupResult, error) {
	tag := l.caseTag(req.CaseID)
	detail := map[string]any{"to": req.To, "case": tag}
	if res.Refused != "" {
		detail["outcome"], detail["reason"] = "refused", res.Refused
		l.audit(actor, actionLookupResult, target, detail)
		return LookupResult{}, refusal(req.To, res.Refused)
	}
	if !res.Found {
		detail["outcome"] = "not_found"
		l.audit(actor, actionLookupResult, target, detail)
		return LookupResult{Found: false}, nil
	}
	now := l.now()
	id, err := randomID(l.rand, "l_")
	if err != nil {
		return LookupResult{}, internal("lookup", err)
	}
	plain, err := json.Marshal(res.Contact)
	if err != nil {
		return LookupResult{}, internal("lookup", err)
	}
	exp := now.Add(l.retention)
	if err := l.db.InsertLookup(ctx, store.Lookup{ID: id, Home: req.To, JTIHash: target, CaseTag: tag,
		ContactCT: l.kek.Seal(lookupAAD(id), plain), Created: now, Expires: exp}); err != nil {
		return LookupResult{}, internal("lookup", err)
	}
	detail["outcome"], detail["lookup"], detail["expires"] = "found", id, exp.Unix()
	l.audit(actor, actionLookupResult, target, detail)
	exp = exp.UTC()
	return LookupResult{Found: true, Name: res.Contact.Name, Phone: res.Contact.Phone, Expires: &exp}, nil
}

func lookupAAD(id string) []byte { return []byte("lookup:" + id + ":contact") }

// refusal turns a home node's refusal into an error for the operator.
func refusal(home string, why trust.Reason) error {
	switch why {
	case trust.ReasonNotMember:
		return Errorf(EForbidden, "%s refused: this province is not an active member of the federation", home)
	case trust.ReasonRateLimited:
		return Errorf(ERateLimited, "%s refused: too many lookups from this province; try again later", home)
	case trust.ReasonNoLegalBasis:
		return Errorf(EInvalid, "%s refused: the legal basis is missing or unusable", home)
	case trust.ReasonLookupUnproven:
		return Errorf(ELookupUnproven, "%s refused: the request did not prove that this province saw the code itself "+
			"(the code given is not the one %s issued under that id, or it was issued before %s kept proofs of scan, "+
			"which cannot be proven)", home, home, home)
	}
	return Errorf(EUnavailable, "%s refused the request (%s); check this node's clock and try again", home, why)
}

// LookupRecord is one lookup of a resident's identity by another province,
// as the resident is told of it. LegalBasis is empty once the lookup
// retention ended (lookupbasis.go): the rest stays for the audit retention.
type LookupRecord struct {
	Time       time.Time `json:"time"`
	Province   string    `json:"province"`
	LegalBasis string    `json:"legal_basis"`
	CaseID     string    `json:"case_id"`
	Disclosed  []string  `json:"disclosed"` // which fields were sent
}

// maxLookupsListed bounds one listing, newest first.
const maxLookupsListed = 500

// LookupsOf tells a resident (or an operator) every time another province
// obtained their contact data from this node: when, which province, on
// what legal basis, for which case. It reads the audit log, where each
// answer was recorded as it was sent.
func (n *Node) LookupsOf(ctx context.Context, p Principal, subjectID string) ([]LookupRecord, error) {
	return n.lookups.lookupsOf(ctx, p, subjectID)
}

// lookupsOf implements Node.LookupsOf: an operator's read is charged and
// audited (operatorRead).
func (l *lookups) lookupsOf(ctx context.Context, p Principal, subjectID string) ([]LookupRecord, error) {
	return operatorRead(ctx, l.access, p, readLookups, subjectID, func() ([]LookupRecord, error) {
		return l.listLookups(ctx, p, subjectID)
	})
}

// listLookups reads the list lookupsOf returns.
func (l *lookups) listLookups(ctx context.Context, p Principal, subjectID string) ([]LookupRecord, error) {
	if err := requireSubject(p, subjectID); err != nil {
		return nil, err
	}
	_, dk, err := loadSubjectWithKey(ctx, l.db, l.kek, subjectID)
	if err != nil {
		return nil, err
	}
	entries, err := l.db.AuditByTargets(ctx, actionLookupAnswer, []string{subjectID}, maxLookupsListed)
	if err != nil {
		return nil, internal("lookups of", err)
	}
	out := make([]LookupRecord, 0, len(entries))
	for _, e := range entries {
		var d answerDetail
		province, ok := strings.CutPrefix(e.Actor, "peer:")
		if !ok || json.Unmarshal([]byte(e.Detail), &d) != nil {
			continue
		}
		caseID := d.CaseID // an entry written before the case was sealed
		if len(d.CaseSealed) > 0 {
			b, err := dk.Open(caseAAD(subjectID), d.CaseSealed)
			if err != nil {
				return nil, internal("lookups of", err)
			}
			caseID = string(b)
		}
		basis, err := l.openBasis(ctx, d.sealedBasis, dk, subjectID)
		if err != nil {
			return nil, internal("lookups of", err)
		}
		out = append(out, LookupRecord{Time: e.Time, Province: province, LegalBasis: basis, CaseID: caseID,
			Disclosed: d.Fields})
	}
	return out, nil
}

// answerDetail is what the audit log keeps of an answered lookup: no
// personal data, the code id hashed, the case as its tag and, when the
// holder was found, sealed under their data key for them to read; the
// legal basis as its tag and sealed until the lookup retention ends
// (lookupbasis.go), under the holder's data key too when found.
type answerDetail struct {
	sealedBasis
	Case       string   `json:"case,omitempty"`        // the case tag (lookupcase.go)
	CaseSealed []byte   `json:"case_sealed,omitempty"` // base64, under the holder's data key
	CaseID     string   `json:"case_id,omitempty"`     // only in entries written before: the case in clear
	JTI        string   `json:"jti"`
	Found      bool     `json:"found"`
	Fields     []string `json:"fields,omitempty"`
}
