package node

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Retention reports what one retention pass deleted.
type Retention struct {
	Codes       int `json:"codes"`
	Revocations int `json:"revocations"`
	Subjects    int `json:"subjects"`
	Lookups     int `json:"lookups"`
	Appeals     int `json:"appeals"`
	Audit       int `json:"audit"`
	BasisKeys   int `json:"basis_keys"` // days whose lookups' legal bases were shredded (lookupbasis.go)
	// SubjectsLeft says the pass ran out of its time for subjects
	// (subjectsPassWork) with more perhaps past their retention: the
	// node's next tick runs a pass again, not an hour later.
	SubjectsLeft bool `json:"subjects_left,omitempty"`
}

// retention owns the retention pass (seed rule 8): what it deletes, by
// the periods of privacy.retention, and when it last ran in the periodic
// tick. It reaches the database, the logger, the metrics and the clock it
// is given; lookups, to shred the legal bases of lookups past their
// retention and to erase a deleted resident's lookups at other provinces;
// and residents, to forget a deleted resident and apply and publish the
// revocation of their codes. None of this state lives on Node, which
// keeps Retain as its exported entry point and calls tick from Tick.
type retention struct {
	db        *store.DB
	privacy   config.Privacy // privacy.retention's periods
	log       *slog.Logger
	metrics   *Metrics
	now       func() time.Time
	lookups   *lookups
	residents *residents

	// last is when tick last ran a pass that left no subject due; only
	// Node.Tick reads and writes it (Node.Run's one goroutine).
	last time.Time
	// batch and work bound the deletion of subjects in one pass:
	// store.MaxSubjectDeletions and subjectsPassWork, but for tests.
	batch int
	work  time.Duration
}

// newRetention builds the node's retention pass.
func newRetention(db *store.DB, s config.Config, log *slog.Logger, m *Metrics, now func() time.Time,
	l *lookups, r *residents) *retention {
	return &retention{db: db, privacy: s.Privacy, log: log, metrics: m, now: now, lookups: l, residents: r,
		batch: store.MaxSubjectDeletions, work: subjectsPassWork}
}

// tick runs a retention pass if retentionEvery has passed at now since
// the last one tick ran (or none has), or if that one left subjects past
// their retention (Retention.SubjectsLeft).
func (rt *retention) tick(ctx context.Context, now time.Time) error {
	if now.Sub(rt.last) < retentionEvery {
		return nil
	}
	r, err := rt.pass(ctx)
	if err != nil {
		return err
	}
	if !r.SubjectsLeft {
		rt.last = now
	}
	return nil
}

// Retain deletes what is past its retention period (seed rule 8): the
// bookkeeping of codes expired longer than privacy.retention.codes, outbox
// revocations whose codes have all expired, contact data obtained from
// other provinces once its privacy.retention.lookups ends, and the keys
// that sealed the legal bases of lookups (either end) then too, resolved
// appeals privacy.retention.appeals after their resolution (their text
// may name other people; the audit log keeps the decision), subjects
// past their retention date — those are revoked and crypto-shredded
// exactly as when a resident deletes their own record — and audit entries
// older than privacy.retention.audit (store.PruneAudit, which keeps the
// chain verifiable from an anchor). It runs in the periodic tick.
//
// An audit chain that does not verify is not pruned: it is kept whole as
// evidence and logged as an error, and the rest of the pass, and the tick,
// go on. A non-positive privacy.retention.audit keeps the log whole.
func (n *Node) Retain(ctx context.Context) (Retention, error) { return n.retention.pass(ctx) }

// pass is one retention pass (Node.Retain).
func (rt *retention) pass(ctx context.Context) (Retention, error) {
	var r Retention
	now := rt.now()
	var err error
	if r.Codes, err = rt.db.DeleteExpiredCodes(ctx, now.Add(-rt.privacy.Retention.Codes)); err != nil {
		return r, err
	}
	// An outbox row lists codes issued at most MaxCodeLifetime before it.
	if r.Revocations, err = rt.db.DeletePublishedRevocations(ctx, now.Add(-trust.MaxCodeLifetime-trust.ClockSkew)); err != nil {
		return r, err
	}
	// Contact data obtained from other provinces, past its case retention.
	if r.Lookups, err = rt.db.DeleteExpiredLookups(ctx, now); err != nil {
		return r, err
	}
	// The legal bases stated in lookups, at either end, past the same
	// retention: their days' keys go, the tags stay in the audit log.
	if r.BasisKeys, err = rt.lookups.shredBases(ctx, now); err != nil {
		return r, err
	}
	if r.Appeals, err = rt.appeals(ctx, now.Add(-rt.privacy.Retention.Appeals)); err != nil {
		return r, err
	}
	if r.Subjects, r.SubjectsLeft, err = rt.subjects(ctx, now); err != nil {
		return r, err
	}
	if keep := rt.privacy.Retention.Audit; keep > 0 {
		r.Audit, err = rt.db.PruneAudit(ctx, now.Add(-keep))
		switch {
		case errors.Is(err, store.ErrAuditBroken):
			rt.log.Error("audit log not pruned: its chain does not verify", "err", err)
		case err != nil:
			return r, err
		}
	}
	rt.metrics.Deleted.WithLabelValues("code", "retention").Add(float64(r.Codes))
	rt.metrics.Deleted.WithLabelValues("subject", "retention").Add(float64(r.Subjects))
	rt.metrics.Deleted.WithLabelValues("lookup", "retention").Add(float64(r.Lookups))
	rt.metrics.Deleted.WithLabelValues("appeal", "retention").Add(float64(r.Appeals))
	rt.metrics.Deleted.WithLabelValues("audit", "retention").Add(float64(r.Audit))
	if r.Codes+r.Subjects+r.Revocations+r.Lookups+r.Appeals+r.Audit+r.BasisKeys > 0 {
		rt.log.Info("retention", "codes", r.Codes, "subjects", r.Subjects, "revocations", r.Revocations,
			"lookups", r.Lookups, "appeals", r.Appeals, "audit", r.Audit, "basis_keys", r.BasisKeys,
			"subjects_left", r.SubjectsLeft)
	}
	return r, nil
}

// subjectsPassWork bounds the time one retention pass spends deleting
// subjects past their retention. An outbreak's residents, set yellow
// together through the bulk path, reach the end of their retention
// together: a pass deletes them batch after batch for up to this long,
// and the node's next tick, a minute later, goes on (Retention.SubjectsLeft).
// Node.Tick's other work (the key schedule, the refusal counts) waits
// for the pass, so it is bounded; a pass of one batch an hour, as
// before round 25, took 42 days over a million residents.
const subjectsPassWork = 30 * time.Second

// subjects deletes the subjects past their retention at now, revoked and
// crypto-shredded exactly as when a resident deletes their own record, a
// batch of up to rt.batch at a time (rt.subjectsBatch), until none is left
// or rt.work has passed since it began. It returns how many it deleted,
// and whether it stopped for time after a full batch: more may be due.
func (rt *retention) subjects(ctx context.Context, now time.Time) (deleted int, more bool, err error) {
	start := time.Now()
	for {
		n, full, err := rt.subjectsBatch(ctx, now)
		deleted += n
		if err != nil || !full {
			return deleted, false, err
		}
		if time.Since(start) >= rt.work {
			return deleted, true, nil
		}
	}
}

// subjectsBatch deletes up to rt.batch subjects past their retention at
// now in one batch: keys.db's WAL is truncated once for the batch, not
// once per resident, so issuance waits at the key gate once
// (store.DB.DeleteSubjects). It returns how many it deleted and whether
// the batch was full.
func (rt *retention) subjectsBatch(ctx context.Context, now time.Time) (int, bool, error) {
	ids, err := rt.db.SubjectsPastRetention(ctx, now, rt.batch)
	if err != nil || len(ids) == 0 {
		return 0, false, err
	}
	dels := make([]store.SubjectDeletion, len(ids))
	erasings := make(map[string]*erasing, len(ids))
	for i, id := range ids {
		e := rt.lookups.erasing("system", id)
		plan := e.plan()
		erasings[id], dels[i] = e, store.SubjectDeletion{ID: id, Plan: &plan,
			Audit: []store.AuditEntry{newAuditEntry(rt.now(), "system", "subject.retention_delete", id, nil)}}
	}
	deleted := 0
	err = rt.db.DeleteSubjects(ctx, now, heldPastRetention, dels, func(d store.SubjectDeletion, rev *store.Revocation, err error) error {
		if errors.Is(err, errHeldPastRetention) {
			return nil // its status changed since it was listed, up to its deletion's transaction: held
		}
		rt.residents.forget(d.ID) // its key is gone, whatever else failed
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil // deleted meanwhile (by the resident, say): nothing left to retain
		case err != nil:
			// Rolled back alone, or with its transaction: DeleteSubjects
			// returns the first failure once every deletion is reported,
			// those committed after it included.
			return nil
		}
		rt.residents.revoked(ctx, rev)
		erasings[d.ID].done()
		deleted++
		return nil
	})
	return deleted, len(ids) == rt.batch, err
}

// appealsDeletedAtOnce bounds one transaction of retention.appeals.
const appealsDeletedAtOnce = 1000

// appeals deletes every appeal resolved at or before before, a bounded
// transaction at a time, each with an audit entry that names the appeal,
// its outcome and the status it set: what was decided stays, the text
// goes.
func (rt *retention) appeals(ctx context.Context, before time.Time) (int, error) {
	entry := func(a store.Appeal) store.AuditEntry {
		return newAuditEntry(rt.now(), "system", "appeal.retention_delete", a.SubjectID,
			map[string]any{"appeal": a.ID, "outcome": a.Status, "status": a.AppliedStatus})
	}
	total := 0
	for {
		k, err := rt.db.DeleteResolvedAppeals(ctx, before, appealsDeletedAtOnce, entry)
		total += k
		if err != nil || k < appealsDeletedAtOnce {
			return total, err
		}
	}
}

// retentionEvery is how often Node.Tick runs a retention pass (retention.tick).
const retentionEvery = time.Hour

// errHeldPastRetention is heldPastRetention's refusal.
var errHeldPastRetention = errors.New("held past retention: status not green")

// heldPastRetention keeps a yellow or red subject, or one whose status is
// unconfirmed since a restore, past its retention (see
// store.DB.SubjectsPastRetention), judged again in each resident's
// deletion transaction (store.DB.DeleteSubjects).
func heldPastRetention(status string, unconfirmed bool) error {
	if status == string(trust.Green) && !unconfirmed {
		return nil
	}
	return errHeldPastRetention
}
