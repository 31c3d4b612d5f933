package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// The case id of a cross-province lookup is the asking province's file
// number: whoever holds it can tie the lookup to a person's case file
// there. The audit log must still show that each lookup stated a basis,
// whom the node asked or answered and when, and let an auditor check a
// given case when asked; it need not carry the case id itself. So, at
// both ends, the log and the lookups table keep the case as a tag:
// HMAC-SHA256 under a random key sealed by the KEK (in node.db's meta),
// truncated. An auditor given a case id finds its entries (LookupAudit);
// a copy of node.db without the KEK, or a reader of the log, learns
// nothing of it. The legal basis is kept as a tag too, and sealed until
// the lookup retention ends (lookupbasis.go).
//
// The home node also tells its resident which case they were looked up
// for (LookupsOf): there the case id is sealed, in addition, under the
// resident's data key, so it goes with the resident's deletion.

// Case tag limits and labels.
const (
	// caseKeyMeta is the meta row holding the case tag key, sealed under
	// the KEK, base64.
	caseKeyMeta = "audit.case_key"
	// caseKeyAAD binds the sealed case tag key to its place.
	caseKeyAAD = "key:audit-case"
	// caseTagLabel separates this HMAC's inputs from any other use.
	caseTagLabel = "hcfed/audit/case_id/v1\x00"
	// caseTagLen is how many bytes of the HMAC a tag keeps: 128 bits, so
	// two cases never share one.
	caseTagLen = 16
	// maxLookupAudit bounds one auditor's listing, newest first.
	maxLookupAudit = 500
)

// openCaseKey opens the case tag key, creating it on first start.
func openCaseKey(ctx context.Context, db *store.DB, kek *seal.Key) ([]byte, error) {
	return openSecret(ctx, db, kek, caseKeyMeta, caseKeyAAD, "the case tag key")
}

// caseTag is the tag under which the audit log and the lookups table keep
// a case id.
func caseTag(key []byte, caseID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(caseTagLabel))
	m.Write([]byte(caseID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:caseTagLen])
}

// detailField is how a string field of an audit detail reads in its JSON,
// as json.Marshal wrote it: what AuditOfLookups looks for.
func detailField(name, value string) string {
	b, _ := json.Marshal(map[string]string{name: value}) // strings always encode
	return string(b[1 : len(b)-1])
}

// caseAAD binds a case id sealed under a resident's data key to them.
func caseAAD(subjectID string) []byte { return fieldAAD(subjectID, "lookup_case") }

// LookupAuditEntry is one audit entry of a lookup, as an auditor is shown
// it: what happened (lookup.request and lookup.result at the asking end,
// lookup.answer and lookup.refuse at the home end), by whom, about what
// (a hashed code id, or the subject answered about) and the detail as
// recorded.
type LookupAuditEntry struct {
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Detail json.RawMessage `json:"detail,omitempty"`
	// LegalBasis is the legal basis stated, while the lookup retention
	// keeps it (lookupbasis.go); the detail keeps only its tag.
	LegalBasis string `json:"legal_basis,omitempty"`
	// BasisMatches says, when the query gave a legal basis, whether it is
	// the one this entry records: for as long as the entry is kept.
	BasisMatches *bool `json:"basis_matches,omitempty"`
}

// LookupAuditQuery is what an auditor looks for: the lookups of a case
// and, optionally, whether each stated a given legal basis (to settle a
// dispute over the text once the lookup retention shredded it).
type LookupAuditQuery struct {
	CaseID     string `json:"case_id"`
	LegalBasis string `json:"legal_basis,omitempty"`
}

// LookupAudit lists, for an operator (an auditor), every audit entry of
// a lookup made for the case q.CaseID, at either end, newest first, with
// the legal basis each stated while it is kept, and whether it was
// q.LegalBasis when that is given. The log does not hold the case id;
// this finds its tag, and the case id in clear in entries written before
// the tag was kept (until the audit retention prunes them).
func (n *Node) LookupAudit(ctx context.Context, p Principal, q LookupAuditQuery) ([]LookupAuditEntry, error) {
	return n.lookups.audited(ctx, p, q)
}

// audited lists a case's audit entries; see Node.LookupAudit.
func (l *lookups) audited(ctx context.Context, p Principal, q LookupAuditQuery) ([]LookupAuditEntry, error) {
	if err := Permit(p, OpLookupAudit, ""); err != nil {
		return nil, err
	}
	caseID := q.CaseID
	if caseID == "" || len([]rune(caseID)) > trust.MaxCaseIDLen {
		return nil, Errorf(EInvalid, "give the case id, at most %d characters", trust.MaxCaseIDLen)
	}
	if len([]rune(q.LegalBasis)) > trust.MaxLegalBasisLen {
		return nil, Errorf(EInvalid, "a legal basis has at most %d characters", trust.MaxLegalBasisLen)
	}
	entries, err := l.db.AuditOfLookups(ctx, []string{detailField("case", caseTag(l.caseKey, caseID)),
		detailField("case_id", caseID)}, maxLookupAudit)
	if err != nil {
		return nil, internal("lookup audit", err)
	}
	out := make([]LookupAuditEntry, len(entries))
	for i, e := range entries {
		basis, matches, err := l.auditedBasis(ctx, e, q.LegalBasis)
		if err != nil {
			return nil, internal("lookup audit", err)
		}
		out[i] = LookupAuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
			Detail: json.RawMessage(e.Detail), LegalBasis: basis, BasisMatches: matches}
	}
	return out, nil
}
