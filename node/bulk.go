package node

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"strings"

	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

const (
	// BulkBatchLines is how many lines of a bulk status change commit in
	// one transaction, with their revocations and audit entries; the
	// store's maximum (store.MaxStatusBatch). Batches of 2,000 took about
	// a fifth less CPU in the storm benchmark than batches of 500 (fewer
	// commits at the home node, fewer and larger revocation statements for
	// every peer to verify and cache); issuance waits at most one batch.
	BulkBatchLines = 2000
	// maxBulkRefLen bounds the client's line reference, echoed back.
	maxBulkRefLen = 128
)

// Results of one line of a bulk status change.
const (
	BulkApplied   = "applied"   // committed: the status changed, live codes revoked
	BulkUnchanged = "unchanged" // the subject already had that status: nothing done
	BulkRefused   = "refused"   // not applied; Error says why, the line may be retried
)

// StatusLine is one line of a bulk status change: a subject's new status,
// why, and the client's own reference for the line.
type StatusLine struct {
	Subject string `json:"subject"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Ref     string `json:"ref,omitempty"`
}

// BulkError is why a line was refused: a stable code and a message safe
// to show.
type BulkError struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
}

// BulkResult is what became of one line; Line counts from 1.
type BulkResult struct {
	Line   int        `json:"line"`
	Ref    string     `json:"ref,omitempty"`
	Result string     `json:"result"`
	Error  *BulkError `json:"error,omitempty"`
}

// BulkSummary counts the committed lines of a bulk status change so far.
type BulkSummary struct {
	Lines     int    `json:"lines"`
	Applied   int    `json:"applied"`
	Unchanged int    `json:"unchanged"`
	Refused   int    `json:"refused"`
	LastLine  int    `json:"last_line"`           // every line up to this one is committed or refused
	Revoked   int    `json:"revoked"`             // codes revoked
	FirstSeq  uint64 `json:"first_seq,omitempty"` // outbox seqs of those revocations
	LastSeq   uint64 `json:"last_seq,omitempty"`
}

// BulkStatus applies a stream of status changes in batches. Lines are
// added in order with Add or Refuse; Flush commits the pending batch and
// returns the results of its lines, in line order. A line is reported
// applied only once its batch has committed. Not safe for concurrent use.
type BulkStatus struct {
	r       *residents
	actor   string       // who the audit log names for each change (Principal.Actor)
	pending []BulkResult // every pending line; Result empty until decided
	changes []store.StatusChange
	reasons []string // the reason of each change, sealed by Flush
	at      []int    // pending index of each change
	// lastDetail is the audit detail of the last line added.
	lastDetail bulkDetail
	// named holds, for every subject a line of this body has named, the
	// status that line set, under a hash of the subject id keyed for this
	// body alone (about 10 bytes a subject: a million-line body holds
	// ~10 MB, not the ids). A later line setting another status for the
	// same subject is refused, so that a body sent twice changes nothing
	// the second time: applied line by line, "yellow then green" would
	// revoke the green codes issued in between on every resend.
	named   map[uint64]trust.Status
	seed    maphash.Seed
	Summary BulkSummary
}

// BulkStatus starts a bulk status change for p, who must be an operator
// or a feed (the health-code platform's account).
func (n *Node) BulkStatus(p Principal) (*BulkStatus, error) { return n.residents.bulkStatus(p) }

// bulkStatus implements Node.BulkStatus.
func (r *residents) bulkStatus(p Principal) (*BulkStatus, error) {
	if err := require(p, RoleOperator, RoleFeed); err != nil {
		return nil, err
	}
	return &BulkStatus{r: r, actor: p.Actor(), named: map[uint64]trust.Status{}, seed: maphash.MakeSeed()}, nil
}

// Add validates line number line (status, reason, ref) and queues it for
// the next Flush, or refuses it. It reports whether the batch is full and
// should be flushed.
func (b *BulkStatus) Add(line int, l StatusLine) bool {
	if err := b.check(l); err != nil {
		return b.Refuse(line, l.Ref, err)
	}
	if err := b.name(l); err != nil {
		return b.Refuse(line, l.Ref, err)
	}
	b.at = append(b.at, len(b.pending))
	b.pending = append(b.pending, BulkResult{Line: line, Ref: l.Ref})
	b.changes = append(b.changes, store.StatusChange{SubjectID: l.Subject, Status: l.Status,
		Audit: b.r.auditEntry(b.actor, "subject.status", l.Subject, nil)})
	b.reasons = append(b.reasons, strings.TrimSpace(l.Reason))
	return b.full()
}

// seal completes the audit entries of the pending changes: each reason
// sealed under its subject's data key (reason.go), read for the whole
// batch in one query. A line without a reason shares the last encoded
// detail of its status rather than encoding it again.
func (b *BulkStatus) seal(ctx context.Context) error {
	ids := make([]string, len(b.changes))
	for i, c := range b.changes {
		ids[i] = c.SubjectID
	}
	sealed, err := b.r.sealReasons(ctx, ids, b.reasons)
	if err != nil {
		return err
	}
	for i := range b.changes {
		c := &b.changes[i]
		if sealed[i] != nil {
			c.Audit.Detail = statusDetail(c.Status, sealed[i], true)
			continue
		}
		if d := &b.lastDetail; d.json == "" || d.status != c.Status {
			*d = bulkDetail{status: c.Status, json: statusDetail(c.Status, nil, true)}
		}
		c.Audit.Detail = b.lastDetail.json
	}
	return nil
}

// bulkDetail is an encoded audit detail without a reason and its status.
type bulkDetail struct{ status, json string }

// Refuse records line as refused for err (its code and client-safe
// message), reported in order at the next Flush. It reports whether the
// batch is full.
func (b *BulkStatus) Refuse(line int, ref string, err error) bool {
	if checkText("ref", ref, maxBulkRefLen, false) != nil {
		ref = "" // never echo a malformed reference
	}
	b.pending = append(b.pending, BulkResult{Line: line, Ref: ref, Result: BulkRefused,
		Error: &BulkError{Code: ErrorCodeOf(err), Message: ErrorMessageOf(err)}})
	return b.full()
}

// name remembers the status l sets for its subject, and refuses a line
// setting another one than an earlier line of this body did. A line
// repeating an earlier one's status goes ahead (it is unchanged, or
// tried again if the earlier one was refused).
func (b *BulkStatus) name(l StatusLine) error {
	h := maphash.String(b.seed, l.Subject)
	if earlier, ok := b.named[h]; ok && earlier != trust.Status(l.Status) {
		return Errorf(EConflict, "an earlier line of this body sets this subject's status to %s: "+
			"send one status a subject in a body, or this line again on its own", earlier)
	}
	b.named[h] = trust.Status(l.Status)
	return nil
}

func (b *BulkStatus) full() bool { return len(b.pending) >= BulkBatchLines }

func (b *BulkStatus) check(l StatusLine) error {
	switch {
	case l.Subject == "":
		return Errorf(EInvalid, "subject is required")
	case !trust.Status(l.Status).Valid():
		return Errorf(EInvalid, "status must be green, yellow or red")
	}
	if err := checkText("subject", l.Subject, maxBulkRefLen, false); err != nil {
		return err
	}
	if err := checkText("ref", l.Ref, maxBulkRefLen, false); err != nil && l.Ref != "" {
		return err
	}
	return checkText("reason", l.Reason, maxReasonLen, false)
}

// Flush commits the pending lines in one transaction, publishes their
// revocations and returns every pending line's result. The batches of
// all the node's bulk streams take turns (residents.bulkTurn); waiting
// for its turn ends with ctx. On error nothing of the batch was
// committed and no result is returned: the caller reports the batch's
// lines as not acknowledged.
func (b *BulkStatus) Flush(ctx context.Context) ([]BulkResult, error) {
	if len(b.pending) == 0 {
		return nil, nil
	}
	if len(b.changes) > 0 {
		select {
		case b.r.bulkTurn <- struct{}{}:
			defer func() { <-b.r.bulkTurn }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := b.seal(ctx); err != nil {
			return nil, internal("bulk status", err)
		}
		outcomes, rev, err := b.r.db.SetStatusBatch(ctx, b.changes, b.r.now())
		if err != nil {
			if errors.Is(err, store.ErrInvalid) {
				return nil, Errorf(EInvalid, "batch refused")
			}
			return nil, internal("bulk status", err)
		}
		for i, o := range outcomes {
			r := &b.pending[b.at[i]]
			switch o {
			case store.StatusApplied:
				r.Result = BulkApplied
			case store.StatusUnchanged:
				r.Result = BulkUnchanged
			default:
				r.Result, r.Error = BulkRefused, &BulkError{Code: ENotFound, Message: "no such subject"}
			}
		}
		b.r.revoked(ctx, rev)
		if rev != nil {
			b.Summary.Revoked += len(rev.Entries)
			b.Summary.FirstSeq = cmp.Or(b.Summary.FirstSeq, rev.FirstSeq)
			b.Summary.LastSeq = rev.Seq
		}
	}
	out, applied := b.pending, 0
	for _, r := range out {
		b.Summary.Lines++
		switch r.Result {
		case BulkApplied:
			b.Summary.Applied++
			applied++
		case BulkUnchanged:
			b.Summary.Unchanged++
		default:
			b.Summary.Refused++
		}
		b.r.metrics.BulkLines.WithLabelValues(r.Result).Inc()
	}
	b.Summary.LastLine = out[len(out)-1].Line
	b.r.metrics.StatusChanges.Add(float64(applied))
	b.pending, b.changes, b.reasons, b.at = nil, b.changes[:0], b.reasons[:0], b.at[:0]
	return out, nil
}
