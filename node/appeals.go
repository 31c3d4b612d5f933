package node

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Appeal limits.
const (
	// MaxAppealText is the longest appeal message or resolution note, in
	// characters.
	MaxAppealText = 500
	// maxAppealsListed bounds one listing of appeals, and one page of the
	// open-appeals queue.
	maxAppealsListed = 100
	// maxOpenAppeals bounds a resident's open appeals: one resident cannot
	// bury the queue; a further appeal waits for one to be resolved.
	maxOpenAppeals = 3
)

// Appeal outcomes.
const (
	AppealOpen     = "open"
	AppealUpheld   = "upheld"
	AppealRejected = "rejected"
)

// Appeal is a resident's dispute of their health status and, once an
// operator resolved it, the outcome (seed rule 9). Message and note are
// kept sealed under the resident's data key and shown only to that
// resident and to operators.
type Appeal struct {
	ID            string     `json:"id"`
	SubjectID     string     `json:"subject_id"`
	Created       time.Time  `json:"created"`
	Status        string     `json:"status"` // open, upheld or rejected
	Message       string     `json:"message"`
	Note          string     `json:"note,omitempty"`
	AppliedStatus string     `json:"applied_status,omitempty"` // the health status an upheld appeal set
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	// SubjectStatus is the resident's current health status, in an
	// operator's list of open appeals, and SubjectStatusSince when it was
	// set: a resolution names the latter (Resolution.SubjectStatusSince).
	SubjectStatus      string     `json:"subject_status,omitempty"`
	SubjectStatusSince *time.Time `json:"subject_status_since,omitempty"`
	// StatusChanged, in that list, says that the status was set after the
	// appeal was filed: the appeal disputes a status that is no longer
	// the resident's, and its resolution must name the current one.
	StatusChanged bool `json:"status_changed,omitempty"`
}

// Resolution is an operator's decision on an appeal. Status is the
// resident's health status as the appeal decides it, required when the
// appeal is upheld and refused when it is rejected. A status that differs
// from the resident's is applied as SetStatus applies it: every live code
// is revoked and the resident gets codes of the new colour. The status
// they already have is recorded and changes nothing: an appeal is not a
// new exposure, and their codes (a paper one too) stay valid.
//
// SubjectStatusSince is the time of the resident's status that the
// operator reviewed the appeal against (the queue's subject_status_since).
// Without it, the resolution is refused (EAppealStale) if the status was
// set after the appeal was filed; with it, if the status was set after
// that time. Either way an appeal never overwrites a status its operator
// has not seen.
type Resolution struct {
	Outcome            string     `json:"outcome"`
	Note               string     `json:"note"`
	Status             string     `json:"status,omitempty"`
	SubjectStatusSince *time.Time `json:"subject_status_since,omitempty"`
}

func appealAAD(subjectID, appealID, field string) []byte {
	return []byte("subject:" + subjectID + ":appeal:" + appealID + ":" + field)
}

// checkAppealText checks a message or note, trimmed: at most
// MaxAppealText characters of text as checkText allows it, line breaks
// and tabs included.
func checkAppealText(what, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", Errorf(EInvalid, "%s is required", what)
	}
	if err := checkText(what, s, MaxAppealText, true); err != nil {
		return "", err
	}
	return s, nil
}

// FileAppeal records a resident's dispute of their health status. A
// resident files for themselves; an operator at a service point may file
// for a resident who has no phone, naming them by subjectID (a resident's
// own filing may leave it empty).
func (n *Node) FileAppeal(ctx context.Context, p Principal, subjectID, message string) (Appeal, error) {
	return n.records.fileAppeal(ctx, p, subjectID, message)
}

// fileAppeal implements Node.FileAppeal.
func (rs *records) fileAppeal(ctx context.Context, p Principal, subjectID, message string) (Appeal, error) {
	if err := Permit(p, OpFileAppeal, subjectID); err != nil {
		return Appeal{}, err
	}
	if p.Role == RoleResident && subjectID == "" {
		subjectID = p.SubjectID
	}
	if p.Role == RoleOperator && subjectID == "" {
		return Appeal{}, Errorf(EInvalid, "subject_id is required when an operator files for a resident")
	}
	if err := requireSubject(p, subjectID); err != nil {
		return Appeal{}, err
	}
	message, err := checkAppealText("message", message, true)
	if err != nil {
		return Appeal{}, err
	}
	s, dk, err := rs.subjectWithKey(ctx, subjectID)
	if err != nil {
		return Appeal{}, err
	}
	id, err := randomID(rs.rand, "ap_")
	if err != nil {
		return Appeal{}, internal("appeal", err)
	}
	now := rs.now().UTC()
	err = rs.db.CreateAppeal(ctx, store.Appeal{ID: id, SubjectID: s.ID, Created: now,
		MessageCT: dk.Seal(appealAAD(s.ID, id, "message"), []byte(message))}, maxOpenAppeals,
		rs.auditEntry(p.Actor(), "appeal.file", s.ID, map[string]any{"appeal": id}))
	switch {
	case errors.Is(err, store.ErrTooManyOpen):
		return Appeal{}, Errorf(ELimitReached, "%d appeals are open already; a further appeal waits until one is resolved", maxOpenAppeals)
	case errors.Is(err, store.ErrNotFound):
		return Appeal{}, Errorf(ENotFound, "no such subject")
	case err != nil:
		return Appeal{}, internal("appeal", err)
	}
	return Appeal{ID: id, SubjectID: s.ID, Created: now, Status: AppealOpen, Message: message}, nil
}

// AppealPage is one page of the open-appeals queue. Next, when not empty,
// is the cursor of the following page.
type AppealPage struct {
	Appeals []Appeal `json:"appeals"`
	Next    string   `json:"next,omitempty"`
}

// OpenAppeals lists open appeals, oldest first, for an operator to
// resolve, with each resident's current status: up to limit (at most
// maxAppealsListed; 0 means that many) after the cursor after ("" for the
// start), which a previous page's Next gave.
func (n *Node) OpenAppeals(ctx context.Context, p Principal, after string, limit int) (AppealPage, error) {
	return n.records.openAppeals(ctx, p, after, limit)
}

// openAppeals implements Node.OpenAppeals.
func (rs *records) openAppeals(ctx context.Context, p Principal, after string, limit int) (AppealPage, error) {
	page, err := rs.appealQueue(ctx, p, after, limit)
	if err != nil {
		return AppealPage{}, err
	}
	// Each appeal listed shows a resident's text: charged and audited as
	// a read of their record, before the page is shown.
	ids := make([]string, len(page.Appeals))
	for i, a := range page.Appeals {
		ids[i] = a.SubjectID
	}
	if err := rs.access.chargeSubjectReads(p, readAppealQueue, ids...); err != nil {
		return AppealPage{}, err
	}
	if err := rs.access.auditReads(ctx, p, readAppealQueue, ids...); err != nil {
		return AppealPage{}, err
	}
	return page, nil
}

// appealQueue reads one page of the open-appeals queue for openAppeals,
// which charges and audits its reads.
func (rs *records) appealQueue(ctx context.Context, p Principal, after string, limit int) (AppealPage, error) {
	if err := require(p, RoleOperator); err != nil {
		return AppealPage{}, err
	}
	if limit == 0 {
		limit = maxAppealsListed
	}
	if limit < 1 || limit > maxAppealsListed {
		return AppealPage{}, Errorf(EInvalid, "limit must be within 1-%d", maxAppealsListed)
	}
	cur, err := parseAppealCursor(after)
	if err != nil {
		return AppealPage{}, err
	}
	rows, err := rs.db.OpenAppeals(ctx, cur, limit+1)
	if err != nil {
		return AppealPage{}, internal("open appeals", err)
	}
	page := AppealPage{Appeals: make([]Appeal, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = appealCursor(rows[limit-1])
	}
	for _, r := range rows {
		s, dk, err := rs.subjectWithKey(ctx, r.SubjectID)
		if ErrorCodeOf(err) == ENotFound {
			continue // deleted meanwhile; its appeals went with it
		}
		if err != nil {
			return AppealPage{}, err
		}
		a, err := openAppeal(r, dk)
		if err != nil {
			return AppealPage{}, internal("open appeals", err)
		}
		since := s.StatusSince
		a.SubjectStatus, a.SubjectStatusSince, a.StatusChanged = s.Status, &since, statusSetSinceFiled(r, s.StatusSince)
		page.Appeals = append(page.Appeals, a)
	}
	return page, nil
}

// appealCursor is the opaque cursor after appeal r: its creation time and
// id, which order the queue.
func appealCursor(r store.Appeal) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.Created.UnixNano(), 10) + "." + r.ID))
}

// parseAppealCursor reads what appealCursor wrote; "" is the start.
func parseAppealCursor(s string) (store.AppealCursor, error) {
	if s == "" {
		return store.AppealCursor{}, nil
	}
	bad := Errorf(EInvalid, "after is not a cursor this node gave; use the next of the previous page")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 128 {
		return store.AppealCursor{}, bad
	}
	ns, id, ok := strings.Cut(string(raw), ".")
	t, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || t <= 0 || id == "" {
		return store.AppealCursor{}, bad
	}
	return store.AppealCursor{Created: time.Unix(0, t).UTC(), ID: id}, nil
}

// AppealsOf lists a resident's appeals and their outcomes, newest first,
// for that resident or an operator.
func (n *Node) AppealsOf(ctx context.Context, p Principal, subjectID string) ([]Appeal, error) {
	return n.records.appealsOf(ctx, p, subjectID)
}

// appealsOf implements Node.AppealsOf: an operator's read is charged and
// audited (operatorRead).
func (rs *records) appealsOf(ctx context.Context, p Principal, subjectID string) ([]Appeal, error) {
	return operatorRead(ctx, rs.access, p, readAppeals, subjectID, func() ([]Appeal, error) {
		return rs.listAppeals(ctx, p, subjectID)
	})
}

// listAppeals reads the list appealsOf returns.
func (rs *records) listAppeals(ctx context.Context, p Principal, subjectID string) ([]Appeal, error) {
	if err := requireSubject(p, subjectID); err != nil {
		return nil, err
	}
	_, dk, err := rs.subjectWithKey(ctx, subjectID)
	if err != nil {
		return nil, err
	}
	rows, err := rs.db.AppealsOf(ctx, subjectID, maxAppealsListed)
	if err != nil {
		return nil, internal("appeals", err)
	}
	out := make([]Appeal, 0, len(rows))
	for _, r := range rows {
		a, err := openAppeal(r, dk)
		if err != nil {
			return nil, internal("appeals", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// ResolveAppeal closes an open appeal. An upheld appeal may set a new
// health status: it is applied in the same transaction that closes the
// appeal, only if the appeal is still open, and revokes the resident's
// live codes as SetStatus does. Of two concurrent resolutions exactly one
// wins; the other gets EConflict and changes nothing.
func (n *Node) ResolveAppeal(ctx context.Context, p Principal, id string, r Resolution) (Appeal, error) {
	return n.records.resolveAppeal(ctx, p, id, r)
}

// resolveAppeal implements Node.ResolveAppeal.
func (rs *records) resolveAppeal(ctx context.Context, p Principal, id string, r Resolution) (Appeal, error) {
	if err := Permit(p, OpResolveAppeal, ""); err != nil {
		return Appeal{}, err
	}
	if r.Outcome != AppealUpheld && r.Outcome != AppealRejected {
		return Appeal{}, Errorf(EInvalid, "outcome must be upheld or rejected")
	}
	if r.Status != "" && !trust.Status(r.Status).Valid() {
		return Appeal{}, Errorf(EInvalid, "status must be green, yellow or red")
	}
	if r.Status != "" && r.Outcome != AppealUpheld {
		return Appeal{}, Errorf(EInvalid, "only an upheld appeal changes the status")
	}
	if r.Status == "" && r.Outcome == AppealUpheld {
		// The resident reads "upheld" as "my status was wrong": an upheld
		// appeal that changed nothing would tell them so and leave them
		// yellow or red.
		return Appeal{}, Errorf(EInvalid, "an upheld appeal sets the status the resident should have (status: green, yellow or red); to keep the status, reject the appeal")
	}
	note, err := checkAppealText("note", r.Note, false)
	if err != nil {
		return Appeal{}, err
	}
	row, err := rs.db.Appeal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Appeal{}, Errorf(ENotFound, "no such appeal")
	}
	if err != nil {
		return Appeal{}, internal("resolve appeal", err)
	}
	if row.Status != AppealOpen {
		return Appeal{}, Errorf(EConflict, "this appeal was already resolved (%s)", row.Status)
	}
	s, dk, err := rs.subjectWithKey(ctx, row.SubjectID)
	if err != nil {
		return Appeal{}, err
	}
	if err := checkReviewed(row, s, r.SubjectStatusSince); err != nil {
		// A concurrent resolution of this appeal sets the status too: if
		// one committed since the appeal was read, say so, not "stale".
		if again, aerr := rs.db.Appeal(ctx, id); aerr == nil && again.Status != AppealOpen {
			return Appeal{}, errResolvedMeanwhile()
		}
		return Appeal{}, err
	}
	changes := r.Status != "" && r.Status != s.Status
	var noteCT []byte
	if note != "" {
		noteCT = dk.Seal(appealAAD(row.SubjectID, id, "note"), []byte(note))
	}
	now := rs.now().UTC()
	audit := []store.AuditEntry{rs.auditEntry(p.Actor(), "appeal.resolve", row.SubjectID,
		map[string]any{"appeal": id, "outcome": r.Outcome, "status": r.Status})}
	if changes {
		audit = append(audit, rs.auditEntry(p.Actor(), "subject.status", row.SubjectID,
			map[string]any{"status": r.Status, "reason": "appeal " + id}))
	}
	rev, err := rs.db.ResolveAppeal(ctx, id, store.AppealResolution{Outcome: r.Outcome, NoteCT: noteCT, Applied: r.Status,
		StatusSince: s.StatusSince, At: now}, audit...)
	switch {
	case errors.Is(err, store.ErrConflict):
		return Appeal{}, errResolvedMeanwhile()
	case errors.Is(err, store.ErrStatusChanged):
		return Appeal{}, Errorf(EAppealStale, "the resident's health status was set again while this resolution was being "+
			"recorded; read the appeal again with their current status and decide again")
	case errors.Is(err, store.ErrNotFound):
		return Appeal{}, Errorf(ENotFound, "no such appeal")
	case err != nil:
		return Appeal{}, internal("resolve appeal", err)
	}
	if changes {
		rs.metrics.StatusChanges.Inc()
		rs.revoked(ctx, rev)
	}
	row.Status, row.NoteCT, row.AppliedStatus, row.ResolvedAt = r.Outcome, noteCT, r.Status, now
	a, err := openAppeal(row, dk)
	if err != nil {
		return Appeal{}, internal("resolve appeal", err)
	}
	return a, nil
}

// errResolvedMeanwhile refuses the loser of two concurrent resolutions.
func errResolvedMeanwhile() error { return Errorf(EConflict, "this appeal was resolved meanwhile") }

// statusSetSinceFiled reports whether the resident's status, set at
// since, was set after appeal r was filed. An appeal filed before the
// node recorded the status it disputes compares with its filing time.
func statusSetSinceFiled(r store.Appeal, since time.Time) bool {
	if r.FiledStatusSince.IsZero() {
		return since.After(r.Created)
	}
	return !since.Equal(r.FiledStatusSince)
}

// checkReviewed refuses a resolution of appeal r that was not decided
// against subject s's current status: one naming the time of a status
// that is no longer theirs (reviewed), or, naming none, one of an appeal
// whose status was set again after it was filed.
func checkReviewed(r store.Appeal, s store.Subject, reviewed *time.Time) error {
	var when string
	switch {
	case reviewed != nil && !reviewed.Equal(s.StatusSince):
		when = "after you read this appeal"
	case reviewed == nil && statusSetSinceFiled(r, s.StatusSince):
		when = "after this appeal was filed, so the appeal may dispute a status that is no longer theirs"
	default:
		return nil
	}
	at := s.StatusSince.UTC()
	return Errorf(EAppealStale, "the resident's health status was set to %s at %s, %s; review the appeal again "+
		"against the current status and decide again, naming subject_status_since %s",
		s.Status, at.Format(time.RFC3339), when, at.Format(time.RFC3339Nano))
}

// openAppeal decrypts a stored appeal.
func openAppeal(r store.Appeal, dk *seal.Key) (Appeal, error) {
	msg, err := dk.Open(appealAAD(r.SubjectID, r.ID, "message"), r.MessageCT)
	if err != nil {
		return Appeal{}, err
	}
	a := Appeal{ID: r.ID, SubjectID: r.SubjectID, Created: r.Created, Status: r.Status, Message: string(msg),
		AppliedStatus: r.AppliedStatus}
	if len(r.NoteCT) > 0 {
		note, err := dk.Open(appealAAD(r.SubjectID, r.ID, "note"), r.NoteCT)
		if err != nil {
			return Appeal{}, err
		}
		a.Note = string(note)
	}
	if !r.ResolvedAt.IsZero() {
		at := r.ResolvedAt
		a.ResolvedAt = &at
	}
	return a, nil
}

// loadSubjectWithKey loads a subject from db and opens its data key with kek.
func loadSubjectWithKey(ctx context.Context, db *store.DB, kek *seal.Key, id string) (store.Subject, *seal.Key, error) {
	s, err := loadSubject(ctx, db, id)
	if err != nil {
		return s, nil, err
	}
	dk, err := openDataKey(kek, s)
	if err != nil {
		return s, nil, internal("data key", err)
	}
	return s, dk, nil
}
