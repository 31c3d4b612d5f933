package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// ConsentInput is what the resident agreed to at enrolment.
type ConsentInput struct {
	NoticeVersion string `json:"notice_version"`
	Accepted      bool   `json:"accepted"`
}

// Enrolment is a request to enrol a resident. Fields the node is not
// configured to collect must be empty.
type Enrolment struct {
	Name     string       `json:"name"`
	IDNumber string       `json:"id_number"`
	Phone    string       `json:"phone"`
	Status   string       `json:"status"` // initial status; default green
	Consent  ConsentInput `json:"consent"`
}

// Enrolled is the result of an enrolment: the resident token is shown once.
type Enrolled struct {
	ID            string `json:"id"`
	ResidentToken string `json:"resident_token"`
	Status        string `json:"status"`
}

// masked is the sealed record of what a scanner may show.
type masked struct {
	Name string `json:"dn"`
	Doc  string `json:"doc"`
}

func fieldAAD(id, field string) []byte { return []byte("subject:" + id + ":" + field) }

// openMasked opens a subject's masked record with its data key.
func openMasked(s store.Subject, dk *seal.Key) (masked, error) {
	var m masked
	b, err := dk.Open(fieldAAD(s.ID, "masked"), s.MaskedCT)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// openDataKey opens a subject's data key, sealed under kek.
func openDataKey(kek *seal.Key, s store.Subject) (*seal.Key, error) {
	raw, err := kek.Open(fieldAAD(s.ID, "dk"), s.DataKey)
	if err != nil {
		return nil, err
	}
	return seal.NewKey(raw)
}

// Enrol registers a resident with their informed consent. It refuses
// without consent to the current notice, and refuses personal data the
// node is not configured to collect (minimal collection).
func (n *Node) Enrol(ctx context.Context, p Principal, in Enrolment) (Enrolled, error) {
	return n.residents.enrol(ctx, p, in)
}

// enrol implements Node.Enrol.
func (r *residents) enrol(ctx context.Context, p Principal, in Enrolment) (Enrolled, error) {
	if err := Permit(p, OpEnrol, ""); err != nil {
		return Enrolled{}, err
	}
	if !in.Consent.Accepted {
		return Enrolled{}, Errorf(EConsentRequired, "the resident has not accepted the privacy notice")
	}
	if in.Consent.NoticeVersion != r.cfg.Privacy.NoticeVersion {
		return Enrolled{}, Errorf(EConsentRequired, "consent was given to notice %q; the current notice is %q", in.Consent.NoticeVersion, r.cfg.Privacy.NoticeVersion)
	}
	// The text consented to is recorded under its version before the
	// consent that names it, which keeps its SHA-256.
	if err := r.notice.record(ctx); err != nil {
		return Enrolled{}, err
	}
	in.IDNumber = NormaliseIDNumber(in.IDNumber)
	fields, err := r.checkFields(in)
	if err != nil {
		return Enrolled{}, err
	}
	status := in.Status
	if status == "" {
		status = string(trust.Green)
	}
	if !trust.Status(status).Valid() {
		return Enrolled{}, Errorf(EInvalid, "status must be green, yellow or red")
	}
	now := r.now()
	id, err := randomID(r.rand, "s_")
	if err != nil {
		return Enrolled{}, internal("enrol", err)
	}
	dkRaw := seal.NewKeyMaterial()
	dk, err := seal.NewKey(dkRaw)
	if err != nil {
		return Enrolled{}, internal("enrol", err)
	}
	m, _ := json.Marshal(masked{Name: trust.MaskName(in.Name), Doc: trust.MaskDocument(in.IDNumber)})
	s := store.Subject{ID: id, DataKey: r.kek.Seal(fieldAAD(id, "dk"), dkRaw),
		NameCT: dk.Seal(fieldAAD(id, "name"), []byte(in.Name)), IDNumberCT: dk.Seal(fieldAAD(id, "id_number"), []byte(in.IDNumber)),
		MaskedCT: dk.Seal(fieldAAD(id, "masked"), m), Status: status, StatusSince: now, Created: now,
		RetainUntil: now.Add(r.cfg.Privacy.Retention.Subjects)}
	if in.Phone != "" {
		s.PhoneCT = dk.Seal(fieldAAD(id, "phone"), []byte(in.Phone))
	}
	if in.IDNumber != "" {
		s.IDIndex = idIndex(r.indexKey, in.IDNumber)
	}
	tok, hash, err := r.access.newToken()
	if err != nil {
		return Enrolled{}, internal("enrol", err)
	}
	c := store.Consent{SubjectID: id, NoticeVersion: in.Consent.NoticeVersion, AcceptedAt: now, Fields: fields, Purpose: r.cfg.Privacy.Purpose,
		NoticeSHA256: r.notice.sum[:]}
	err = r.db.CreateSubject(ctx, s, c, store.Token{Hash: hash, Role: string(RoleResident), SubjectID: id, Created: now},
		r.auditEntry(p.Actor(), "subject.enrol", id, map[string]any{"notice": in.Consent.NoticeVersion, "fields": fields}))
	r.access.tokenCreated(hash)
	if dup := (*store.DuplicateError)(nil); errors.As(err, &dup) {
		// One ID number, one subject: the operator is told which one, to
		// issue its codes or change its status rather than enrol again.
		// That answers who an ID number is: a read of the subject's
		// record, charged and audited (reads.go), so that an account
		// cannot map a list of ID numbers to subjects quietly.
		if err := r.access.chargeReads(p, readEnrolled, 1); err != nil {
			return Enrolled{}, err
		}
		if err := r.access.auditReads(ctx, p, readEnrolled, dup.SubjectID); err != nil {
			return Enrolled{}, err
		}
		return Enrolled{}, Errorf(EConflict, "this ID number is already enrolled as subject %s", dup.SubjectID)
	}
	if err != nil {
		return Enrolled{}, internal("enrol", err)
	}
	return Enrolled{ID: id, ResidentToken: tok, Status: status}, nil
}

// checkFields validates the personal fields and returns which were given.
func (r *residents) checkFields(in Enrolment) ([]string, error) {
	var fields []string
	for _, f := range []struct{ name, value string }{{"name", in.Name}, {"id_number", in.IDNumber}, {"phone", in.Phone}} {
		if f.value == "" {
			continue
		}
		if !r.cfg.Collects(f.name) {
			return nil, Errorf(ENotCollected, "this node does not collect %s; leave it out", f.name)
		}
		fields = append(fields, f.name)
	}
	if r.cfg.Collects("name") {
		if in.Name == "" || strings.TrimSpace(in.Name) != in.Name {
			return nil, Errorf(EInvalid, "name is required, 1-%d characters, no surrounding spaces", maxNameLen)
		}
		if err := checkText("name", in.Name, maxNameLen, false); err != nil {
			return nil, err
		}
	}
	if r.cfg.Collects("id_number") && !ValidIDNumber(in.IDNumber) {
		return nil, Errorf(EInvalid, "id_number is not a valid 18-character resident identity number")
	}
	if in.Phone != "" && (len(in.Phone) < 5 || len(in.Phone) > 20 || strings.Trim(in.Phone, "+0123456789") != "") {
		return nil, Errorf(EInvalid, "phone must be 5-20 digits, optionally starting with +")
	}
	return fields, nil
}

// ValidIDNumber checks an 18-character resident identity number's form
// and its GB 11643 check character.
func ValidIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		sum += int(s[i]-'0') * weights[i]
	}
	return s[17] == "10X98765432"[sum%11]
}

func randomID(r io.Reader, prefix string) (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// loadSubject loads a subject from db, mapping absence to ENotFound.
func loadSubject(ctx context.Context, db *store.DB, id string) (store.Subject, error) {
	s, err := db.Subject(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return s, Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return s, internal("subject", err)
	}
	return s, nil
}

// SetStatus changes a resident's health status and revokes every
// unexpired code issued to them, committed in one transaction and then
// published. Operators and feeds only.
func (n *Node) SetStatus(ctx context.Context, p Principal, id, status, reason string) error {
	return n.residents.setStatus(ctx, p, id, status, reason)
}

// setStatus implements Node.SetStatus.
func (r *residents) setStatus(ctx context.Context, p Principal, id, status, reason string) error {
	if err := Permit(p, OpSetStatus, id); err != nil {
		return err
	}
	if !trust.Status(status).Valid() {
		return Errorf(EInvalid, "status must be green, yellow or red")
	}
	if err := checkText("reason", reason, maxReasonLen, false); err != nil {
		return err
	}
	sealed, err := r.sealReasons(ctx, []string{id}, []string{strings.TrimSpace(reason)})
	if err != nil {
		return internal("set status", err)
	}
	audit := r.auditEntry(p.Actor(), "subject.status", id, nil)
	audit.Detail = statusDetail(status, sealed[0], false)
	rev, err := r.db.SetStatus(ctx, id, status, r.now(), audit)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return internal("set status", err)
	}
	r.metrics.StatusChanges.Inc()
	r.revoked(ctx, rev)
	return nil
}

// DeleteSubject revokes a resident's codes and deletes their record; the
// data key goes with it, so any copy of the ciphertext is unreadable.
// Every province this node gave the resident's contact in a lookup is
// told to delete its copy: the erasures are queued with the deletion
// (erasure.go).
func (n *Node) DeleteSubject(ctx context.Context, p Principal, id string) error {
	erasing := n.lookups.erasing(p.Actor(), id)
	if err := n.residents.deleteSubject(ctx, p, id, erasing.plan()); err != nil {
		return err
	}
	erasing.done()
	return nil
}

// deleteSubject implements Node.DeleteSubject, queueing plan's erasures
// with the deletion.
func (r *residents) deleteSubject(ctx context.Context, p Principal, id string, plan store.ErasurePlan) error {
	if err := requireSubject(p, id); err != nil {
		return err
	}
	var allow func(string, bool) error
	if p.Role == RoleResident {
		allow = heldFromResident
	}
	rev, err := r.db.DeleteSubjectErasing(ctx, id, r.now(), allow, plan, r.auditEntry(p.Actor(), "subject.delete", id, nil))
	if held := (*Error)(nil); errors.As(err, &held) {
		return held // nothing was deleted: the resident's tokens and codes stand
	}
	r.forget(id)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return internal("delete subject", err)
	}
	r.metrics.Deleted.WithLabelValues("subject", string(p.Role)).Inc()
	r.revoked(ctx, rev)
	return nil
}

// heldFromResident refuses a resident's own deletion while their status
// is yellow or red. Their record is what refuses a second enrolment of
// their ID number: deleted, it would let them be enrolled again, green by
// default, washing the status. The health authority keeps the record
// until the status is green again (an appeal, or its end); an operator
// may still delete it (a legal order, a mistaken enrolment), audited.
// A status unconfirmed since a restore may be yellow or red in truth: it
// holds the record too, until it is set again.
func heldFromResident(status string, unconfirmed bool) error {
	if unconfirmed {
		return Errorf(EStatusHeld, "your record cannot be deleted yet: this node was restored from a backup and your "+
			"health status must be set again by the health authority first. Contact the health authority or a service point, "+
			"and ask for deletion again once your status is set and green")
	}
	if status == string(trust.Green) {
		return nil
	}
	return Errorf(EStatusHeld, "your record cannot be deleted while your health status is %s: "+
		"the health authority keeps it until the status is green again. "+
		"You may appeal the status if you think it is wrong, and ask for deletion again once it is green", status)
}

// forget drops what memory holds of a deleted resident: their cached
// tokens and the QR images of their codes. Every deletion calls it —
// the resident's own, an operator's and the retention pass's — whatever
// the deletion returned (the key may be shredded even if it failed).
func (r *residents) forget(id string) {
	r.access.forgetResident(id)
	r.codes.forgetSubject(id)
}
