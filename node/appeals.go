package node

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// Appeal limits.
const (
	// MaxAppealText is the longest appeal message or resolution note, in
	// characters.
	MaxAppealText = 500
	// maxAppealsListed bounds one listing of appeals.
	maxAppealsListed = 100
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
	// operator's list of open appeals.
	SubjectStatus string `json:"subject_status,omitempty"`
}

// Resolution is an operator's decision on an appeal. Status, if set, is
// the resident's new health status, applied as SetStatus applies it: every
// live code is revoked and the resident gets codes of the new colour.
type Resolution struct {
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
	Status  string `json:"status,omitempty"`
}

func appealAAD(subjectID, appealID, field string) []byte {
	return []byte("subject:" + subjectID + ":appeal:" + appealID + ":" + field)
}

// checkAppealText checks a message or note: at most MaxAppealText
// characters of valid UTF-8 without control characters other than line
// breaks and tabs.
func checkAppealText(what, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", Errorf(EInvalid, "%s is required", what)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxAppealText {
		return "", Errorf(EInvalid, "%s is limited to %d characters", what, MaxAppealText)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return "", Errorf(EInvalid, "%s holds a control character", what)
		}
	}
	return s, nil
}

// FileAppeal records a resident's dispute of their health status. A
// resident files for themselves; an operator at a service point may file
// for a resident who has no phone, naming them by subjectID (a resident's
// own filing may leave it empty).
func (n *Node) FileAppeal(ctx context.Context, p Principal, subjectID, message string) (Appeal, error) {
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
	s, dk, err := n.subjectWithKey(ctx, subjectID)
	if err != nil {
		return Appeal{}, err
	}
	id, err := randomID(n.rand, "ap_")
	if err != nil {
		return Appeal{}, internal("appeal", err)
	}
	now := n.now().UTC()
	err = n.db.CreateAppeal(ctx, store.Appeal{ID: id, SubjectID: s.ID, Created: now,
		MessageCT: dk.Seal(appealAAD(s.ID, id, "message"), []byte(message))},
		n.auditEntry(string(p.Role), "appeal.file", s.ID, map[string]any{"appeal": id}))
	if errors.Is(err, store.ErrNotFound) {
		return Appeal{}, Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return Appeal{}, internal("appeal", err)
	}
	return Appeal{ID: id, SubjectID: s.ID, Created: now, Status: AppealOpen, Message: message}, nil
}

// OpenAppeals lists the oldest open appeals, for an operator to resolve,
// with each resident's current status.
func (n *Node) OpenAppeals(ctx context.Context, p Principal) ([]Appeal, error) {
	if err := require(p, RoleOperator); err != nil {
		return nil, err
	}
	rows, err := n.db.OpenAppeals(ctx, maxAppealsListed)
	if err != nil {
		return nil, internal("open appeals", err)
	}
	out := make([]Appeal, 0, len(rows))
	for _, r := range rows {
		s, dk, err := n.subjectWithKey(ctx, r.SubjectID)
		if ErrorCodeOf(err) == ENotFound {
			continue // deleted meanwhile; its appeals went with it
		}
		if err != nil {
			return nil, err
		}
		a, err := openAppeal(r, dk)
		if err != nil {
			return nil, internal("open appeals", err)
		}
		a.SubjectStatus = s.Status
		out = append(out, a)
	}
	return out, nil
}

// AppealsOf lists a resident's appeals and their outcomes, newest first,
// for that resident or an operator.
func (n *Node) AppealsOf(ctx context.Context, p Principal, subjectID string) ([]Appeal, error) {
	if err := requireSubject(p, subjectID); err != nil {
		return nil, err
	}
	_, dk, err := n.subjectWithKey(ctx, subjectID)
	if err != nil {
		return nil, err
	}
	rows, err := n.db.AppealsOf(ctx, subjectID, maxAppealsListed)
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
	if err := require(p, RoleOperator); err != nil {
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
	note, err := checkAppealText("note", r.Note, false)
	if err != nil {
		return Appeal{}, err
	}
	row, err := n.db.Appeal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Appeal{}, Errorf(ENotFound, "no such appeal")
	}
	if err != nil {
		return Appeal{}, internal("resolve appeal", err)
	}
	if row.Status != AppealOpen {
		return Appeal{}, Errorf(EConflict, "this appeal was already resolved (%s)", row.Status)
	}
	_, dk, err := n.subjectWithKey(ctx, row.SubjectID)
	if err != nil {
		return Appeal{}, err
	}
	var noteCT []byte
	if note != "" {
		noteCT = dk.Seal(appealAAD(row.SubjectID, id, "note"), []byte(note))
	}
	now := n.now().UTC()
	audit := []store.AuditEntry{n.auditEntry(string(p.Role), "appeal.resolve", row.SubjectID,
		map[string]any{"appeal": id, "outcome": r.Outcome, "status": r.Status})}
	if r.Status != "" {
		audit = append(audit, n.auditEntry(string(p.Role), "subject.status", row.SubjectID,
			map[string]any{"status": r.Status, "reason": "appeal " + id}))
	}
	rev, err := n.db.ResolveAppeal(ctx, id, r.Outcome, noteCT, r.Status, now, audit...)
	switch {
	case errors.Is(err, store.ErrConflict):
		return Appeal{}, Errorf(EConflict, "this appeal was resolved meanwhile")
	case errors.Is(err, store.ErrNotFound):
		return Appeal{}, Errorf(ENotFound, "no such appeal")
	case err != nil:
		return Appeal{}, internal("resolve appeal", err)
	}
	if r.Status != "" {
		n.metrics.StatusChanges.Inc()
		n.revoked(ctx, rev)
	}
	row.Status, row.NoteCT, row.AppliedStatus, row.ResolvedAt = r.Outcome, noteCT, r.Status, now
	a, err := openAppeal(row, dk)
	if err != nil {
		return Appeal{}, internal("resolve appeal", err)
	}
	return a, nil
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

// subjectWithKey loads a subject and opens its data key.
func (n *Node) subjectWithKey(ctx context.Context, id string) (store.Subject, *seal.Key, error) {
	s, err := n.subject(ctx, id)
	if err != nil {
		return s, nil, err
	}
	dk, err := n.dataKey(s)
	if err != nil {
		return s, nil, internal("data key", err)
	}
	return s, dk, nil
}
