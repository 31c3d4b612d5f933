package node

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// Record is what the node holds about one resident, for the resident's
// right to know (seed rules 2 and 8, suggestion 2). The personal fields
// themselves are shown only to the resident; an operator sees the masked
// forms a scanner would see.
type Record struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	StatusSince time.Time `json:"status_since"`
	// StatusUnconfirmed: the node was restored from a backup and this
	// resident's status was set after it; Status is the backup's, and no
	// code is issued until an operator sets the status again.
	StatusUnconfirmed bool              `json:"status_unconfirmed,omitempty"`
	Created           time.Time         `json:"created"`
	RetainUntil       time.Time         `json:"retain_until"`
	Consent           RecordConsent     `json:"consent"`
	Held              map[string]string `json:"held"` // field → value (resident) or masked value (operator)
	// LiveCodes, to the resident only, lists the ids of their phone codes
	// the node honours now (store.LivePhoneCodes): a code their wallet
	// shows that is not among them was withdrawn — revoked, or signed by a
	// key since marked compromised — whether or not the status moved, and
	// the wallet fetches a new one. Empty, never absent, for a resident
	// holding none; absent for an operator.
	LiveCodes []string `json:"live_codes,omitzero"`
	// KeyCompromisedCodes, to the resident only, lists the ids of their
	// unexpired phone codes whose signing key was since marked
	// compromised (store.KeyCompromisedPhoneCodes): the wallet tells them
	// apart from codes revoked, in its own sentence. The keyset already
	// tells every member which keys are compromised.
	KeyCompromisedCodes []string `json:"key_compromised_codes,omitempty"`
}

// RecordConsent is the consent a resident gave at enrolment.
type RecordConsent struct {
	NoticeVersion string    `json:"notice_version"`
	AcceptedAt    time.Time `json:"accepted_at"`
	Fields        []string  `json:"fields"`
	Purpose       string    `json:"purpose"`
	// NoticeSHA256 is the SHA-256 (hex) of the notice's text consented
	// to, in the canonical form the node records it in (noticerecord.go);
	// absent for consents given before the node recorded notice texts.
	NoticeSHA256 string `json:"notice_sha256,omitempty"`
}

// SubjectRecord returns a resident's record: to the resident with their
// personal fields decrypted, to an operator with them masked.
func (n *Node) SubjectRecord(ctx context.Context, p Principal, id string) (Record, error) {
	return n.records.subjectRecord(ctx, p, id)
}

// subjectRecord implements Node.SubjectRecord: an operator's read is
// charged and audited (operatorRead).
func (rs *records) subjectRecord(ctx context.Context, p Principal, id string) (Record, error) {
	return operatorRead(ctx, rs.access, p, readRecord, id, func() (Record, error) { return rs.openRecord(ctx, p, id) })
}

// openRecord reads the record subjectRecord returns.
func (rs *records) openRecord(ctx context.Context, p Principal, id string) (Record, error) {
	if err := requireSubject(p, id); err != nil {
		return Record{}, err
	}
	s, dk, err := rs.subjectWithKey(ctx, id)
	if err != nil {
		return Record{}, err
	}
	c, err := rs.db.Consent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, Errorf(ENotFound, "no such subject")
	}
	if err != nil {
		return Record{}, internal("record", err)
	}
	r := Record{ID: s.ID, Status: s.Status, StatusSince: s.StatusSince, StatusUnconfirmed: s.StatusUnconfirmed,
		Created: s.Created, RetainUntil: s.RetainUntil,
		Consent: RecordConsent{NoticeVersion: c.NoticeVersion, AcceptedAt: c.AcceptedAt, Fields: c.Fields, Purpose: c.Purpose,
			NoticeSHA256: hex.EncodeToString(c.NoticeSHA256)},
		Held: map[string]string{}}
	if p.Role != RoleResident {
		m, err := openMasked(s, dk)
		if err != nil {
			return Record{}, internal("record", err)
		}
		r.Held["masked_name"], r.Held["masked_id_number"] = m.Name, m.Doc
		return r, nil
	}
	live, err := rs.db.LivePhoneCodes(ctx, id, rs.now(), config.MaxLiveCodes)
	if err != nil {
		return Record{}, internal("record", err)
	}
	r.LiveCodes = append([]string{}, live...)
	if r.KeyCompromisedCodes, err = rs.db.KeyCompromisedPhoneCodes(ctx, id, rs.now(), config.MaxLiveCodes); err != nil {
		return Record{}, internal("record", err)
	}
	for _, f := range []struct {
		name string
		ct   []byte
	}{{"name", s.NameCT}, {"id_number", s.IDNumberCT}, {"phone", s.PhoneCT}} {
		if len(f.ct) == 0 {
			continue
		}
		v, err := dk.Open(fieldAAD(s.ID, f.name), f.ct)
		if err != nil {
			return Record{}, internal("record", err)
		}
		if len(v) > 0 {
			r.Held[f.name] = string(v)
		}
	}
	return r, nil
}
