package node

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcfed/hcfed/node/store"
)

// Operators' reads of residents' records (seed rules 6, 7 and 11). An
// operator sees residents masked, but still sees who they are enough to
// recognise (masked name and ID number), their health status, where and
// when their codes were verified, the text of their appeals, which
// provinces looked them up; an ID number already enrolled tells which
// subject it is; a wallet link replaced, or a lookup answered by another
// province, shows a resident in clear. So that one operator account — a
// rogue member of staff, or whoever holds its token — can neither read
// the province's residents in bulk nor read them quietly:
//   - every such read is charged to the account's budget
//     (limits.operator_read_rate and operator_read_burst, per account),
//     a resident's record once per rereadWindow: reading a resident
//     the account read a moment ago shows no one new (an appeals desk
//     lists the same queue after each appeal it resolves);
//     past it the read is refused with read_limited, and
//     hcfed_operator_reads_total{kind, result} counts reads allowed and
//     refused, for an alert;
//   - every read that shows a resident's record is in the audit log
//     (actionSubjectRead, actor the account, target the subject, detail
//     the kind of read), written before the record is shown: a read whose
//     entry cannot be written is refused. The wallet link replacement
//     and the cross-province lookup have audit entries of their own.
//
// Residents reading their own record, and scanners, are not charged.

// actionSubjectRead is the audit action of an operator's read of a
// resident's record.
const actionSubjectRead = "subject.read"

// Kinds of read, the detail of actionSubjectRead entries and the kind
// label of hcfed_operator_reads_total.
const (
	readRecord        = "record"        // GET /v1/subjects/{id}
	readVerifications = "verifications" // GET /v1/subjects/{id}/verifications
	readAppeals       = "appeals"       // GET /v1/subjects/{id}/appeals
	readLookups       = "lookups"       // GET /v1/subjects/{id}/lookups
	readPaper         = "paper"         // GET /v1/codes/{jti}/paper.png
	readAppealQueue   = "appeal_queue"  // GET /v1/appeals, one per appeal listed
	readEnrolled      = "enrolled"      // an enrolment refused: the ID number is this subject's
	readWalletLink    = "wallet_link"   // POST /v1/subjects/{id}/token (audited as subject.token)
	readLookup        = "lookup"        // POST /v1/lookups (audited as lookup.request)
)

// Results of a read, the result label of hcfed_operator_reads_total.
const (
	readAllowed = "allowed"
	readRefused = "refused" // past the account's budget: read_limited
)

// startReadsMetric creates every kind and result of c at 0. An alert on
// the rise of {result="refused"} sees no rise in a series that did not
// exist, so without the zeros an account's first refused reads would
// not fire it.
func startReadsMetric(c *prometheus.CounterVec) {
	for _, kind := range []string{readRecord, readVerifications, readAppeals, readLookups, readPaper, readAppealQueue,
		readEnrolled, readWalletLink, readLookup} {
		for _, result := range []string{readAllowed, readRefused} {
			c.WithLabelValues(kind, result)
		}
	}
}

// rereadWindow is how long an account's read of a resident's record is
// not charged again (it is audited again): the budget bounds how many
// residents an account reads, not how often it looks at the same ones.
const rereadWindow = 15 * time.Minute

// chargeSubjectReads charges p's account for reads of kind of the
// records of subjects (one per subject listed; a subject may be listed
// more than once), each subject once per rereadWindow.
func (a *access) chargeSubjectReads(p Principal, kind string, subjects ...string) error {
	if p.Role != RoleOperator || len(subjects) == 0 {
		return nil
	}
	now := a.now()
	account := readAccount(p)
	fresh := a.recentReads.fresh(account, subjects, now)
	if err := a.chargeReads(p, kind, len(fresh)); err != nil {
		return err
	}
	a.recentReads.charged(account, fresh, now)
	if again := len(subjects) - len(fresh); again > 0 {
		a.readsMetric.WithLabelValues(kind, readAllowed).Add(float64(again))
	}
	return nil
}

// readAccount is the key of p's read budget: its account, or for an
// operator made in code, its actor.
func readAccount(p Principal) string {
	if p.AccountID != "" {
		return p.AccountID
	}
	return p.Actor()
}

// chargeReads takes n reads of kind from p's account budget. Callers
// other than operators are not charged. Past the budget nothing is
// taken and the reads are refused (EReadLimited); either way they are
// counted in hcfed_operator_reads_total.
func (a *access) chargeReads(p Principal, kind string, n int) error {
	if p.Role != RoleOperator || n <= 0 {
		return nil
	}
	if !a.operatorReads.allowN(readAccount(p), a.now(), n) {
		a.readsMetric.WithLabelValues(kind, readRefused).Add(float64(n))
		return Errorf(EReadLimited, "this account has read too many residents' records in a short time; "+
			"wait a minute and try again, or ask an admin to raise limits.operator_read_rate if your work needs more")
	}
	a.readsMetric.WithLabelValues(kind, readAllowed).Add(float64(n))
	return nil
}

// auditReads records that p read the records of subjects (one entry
// each), before they are shown. Only operators' reads are recorded.
func (a *access) auditReads(ctx context.Context, p Principal, kind string, subjects ...string) error {
	if p.Role != RoleOperator || len(subjects) == 0 {
		return nil
	}
	entries := make([]store.AuditEntry, len(subjects))
	for i, id := range subjects {
		entries[i] = a.auditEntry(p.Actor(), actionSubjectRead, id, map[string]string{"read": kind})
	}
	if err := a.db.AppendAuditBatch(ctx, entries); err != nil {
		return internal("audit read", err)
	}
	return nil
}

// operatorRead runs read, one read of kind of subject id's record, for
// p: charged before it runs, audited after it succeeds and before its
// result is returned.
func operatorRead[T any](ctx context.Context, a *access, p Principal, kind, id string, read func() (T, error)) (T, error) {
	var zero T
	if err := a.chargeSubjectReads(p, kind, id); err != nil {
		return zero, err
	}
	v, err := read()
	if err != nil {
		return zero, err
	}
	if err := a.auditReads(ctx, p, kind, id); err != nil {
		return zero, err
	}
	return v, nil
}

// recentReads remembers which residents each account was charged for
// reading, and when, for rereadWindow. It holds no more than the
// accounts' budgets allow them to read in that window.
type recentReads struct {
	mu     sync.Mutex
	m      map[recentRead]time.Time
	pruned time.Time
}

type recentRead struct{ account, subject string }

// fresh returns subjects, each once, that account was not charged for
// within rereadWindow before now.
func (r *recentReads) fresh(account string, subjects []string, now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(subjects))
	seen := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		if seen[s] {
			continue
		}
		seen[s] = true
		if at, ok := r.m[recentRead{account, s}]; !ok || now.Sub(at) >= rereadWindow {
			out = append(out, s)
		}
	}
	return out
}

// charged records that account was charged at now for subjects, and
// drops, once per rereadWindow, what is older than it.
func (r *recentReads) charged(account string, subjects []string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[recentRead]time.Time{}
	}
	for _, s := range subjects {
		r.m[recentRead{account, s}] = now
	}
	if now.Sub(r.pruned) < rereadWindow {
		return
	}
	for k, at := range r.m {
		if now.Sub(at) >= rereadWindow {
			delete(r.m, k)
		}
	}
	r.pruned = now
}
