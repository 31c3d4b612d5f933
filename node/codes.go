package node

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// codes owns code issuance and code rendering: signing a resident's codes
// and recording them, rendering a code as a QR image (with the cache of
// rendered images) and as a printable paper page. It reaches the
// database, the KEK, the trust state, the clock and the random source it
// is given, access to charge and audit operators' reads of paper codes,
// and reads the current code issuer through issuer, which the node's key
// schedule (keyschedule.go) sets; none of this state lives on Node.
//
// Node keeps one thin exported entry point per operation (below), so that
// node/api, node/web and the tests speak to the node alone.
type codes struct {
	province string
	db       *store.DB
	kek      *seal.Key
	state    *trust.State
	issuer   *atomic.Pointer[trust.CodeIssuer] // keySchedule.issuer, swapped by key rotation
	cfg      config.Codes
	retain   time.Duration // privacy.retention.subjects: kept this long after last use
	metrics  *Metrics
	now      func() time.Time
	rand     io.Reader
	access   *access // charges and audits reads of paper codes (reads.go)

	qrs qrCache // rendered QR images by code id
}

// newCodes builds the node's code service.
func newCodes(db *store.DB, kek *seal.Key, state *trust.State, issuer *atomic.Pointer[trust.CodeIssuer],
	s config.Config, m *Metrics, now func() time.Time, rand io.Reader, a *access) *codes {
	return &codes{province: s.Province, db: db, kek: kek, state: state, issuer: issuer, cfg: s.Codes, retain: s.Privacy.Retention.Subjects,
		metrics: m, now: now, rand: rand, access: a}
}

// forgetRevoked drops the cached images of codes just revoked.
func (c *codes) forgetRevoked(rev *store.Revocation) {
	for _, e := range rev.Entries {
		c.qrs.forget(e.JTI)
	}
}

// forgetSubject drops the cached images of a deleted resident's codes.
func (c *codes) forgetSubject(id string) { c.qrs.forgetSubject(id) }

// Issued is a newly issued code.
type Issued struct {
	Code    string    `json:"code"`
	JTI     string    `json:"jti"`
	Expires time.Time `json:"exp"`
	QRURL   string    `json:"qr_url"`
}

// IssueCode issues a code for a resident: to the resident themselves, or
// by an operator. Paper codes (longer validity, for people without
// phones) only by an operator at a service point.
func (n *Node) IssueCode(ctx context.Context, p Principal, id string, paper bool) (Issued, error) {
	return n.codes.issue(ctx, p, id, paper)
}

// CodeQR renders one of a resident's codes as a QR image, for the
// resident (their phone codes) or an operator (any code, paper codes
// too: an operator prints those). The code's text is kept sealed under the
// resident's data key, so deleting the resident makes it unreadable.
//
// Rendered images are cached by code id (qrCache): a resident's phone
// reloading its code costs a database read, not an unseal and an encode.
// The code's row is read every time, so a revoked, expired or deleted
// code is refused (and dropped from the cache) even if a hook missed it.
func (n *Node) CodeQR(ctx context.Context, p Principal, jti string) ([]byte, error) {
	return n.codes.qr(ctx, p, jti)
}

// PaperCode renders one of a resident's paper codes as a printable page
// (seed rule 9: a code for people without a phone): a large band in the
// status colour, the QR, the issuing province, the validity and the masked
// name and document number — exactly what a scanner is shown, read back
// from the code itself, so the page can never say more than the code.
// Only an operator, at a service point, prints one; it shows what the
// record shows, so it is a read of the resident's record (reads.go):
// charged to the account and audited before the page is returned.
func (n *Node) PaperCode(ctx context.Context, p Principal, jti string) ([]byte, error) {
	return n.codes.paperCode(ctx, p, jti)
}

// paperCode implements Node.PaperCode: the page (paper), charged before
// it is rendered and audited before it is returned.
func (c *codes) paperCode(ctx context.Context, p Principal, jti string) ([]byte, error) {
	if err := c.access.chargeReads(p, readPaper, 1); err != nil {
		return nil, err
	}
	page, subjectID, err := c.paper(ctx, p, jti)
	if err != nil {
		return nil, err
	}
	if err := c.access.auditReads(ctx, p, readPaper, subjectID); err != nil {
		return nil, err
	}
	return page, nil
}

// ready reports whether codes can be issued: the key schedule has loaded
// a code issuer (Node.Ready).
func (c *codes) ready() error {
	if c.issuer.Load() == nil {
		return notReady(ReadyKeys, "no code issuer: keys not loaded", nil)
	}
	return nil
}

// issue implements Node.IssueCode.
func (c *codes) issue(ctx context.Context, p Principal, id string, paper bool) (Issued, error) {
	if err := Permit(p, OpIssueCode, id); err != nil {
		return Issued{}, err
	}
	if paper && p.Role != RoleOperator {
		return Issued{}, Errorf(EForbidden, "paper codes are issued by an operator")
	}
	start := time.Now()
	var out Issued
	var err error
	// A status change between reading the subject and recording the code
	// makes the store refuse the code; issuing again picks up the new status.
	for attempt := 0; attempt < 3; attempt++ {
		out, err = c.issueOnce(ctx, p, id, paper)
		if !errors.Is(err, store.ErrStatusChanged) {
			break
		}
	}
	if err != nil {
		return Issued{}, err
	}
	kind := "phone"
	if paper {
		kind = "paper"
	}
	c.metrics.Issued.WithLabelValues(kind).Inc()
	c.metrics.IssueSeconds.Observe(time.Since(start).Seconds())
	return out, nil
}

func (c *codes) issueOnce(ctx context.Context, p Principal, id string, paper bool) (Issued, error) {
	// Announce the insert to come, so that the store's writer holds its
	// next group commit open for it while this issuance reads and signs.
	res := c.db.Reserve()
	defer res.Release()
	now := c.now()
	s, err := c.db.SubjectForIssue(ctx, id, now, c.cfg.MaxLive)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Issued{}, Errorf(ENotFound, "no such subject")
	case errors.Is(err, store.ErrTooManyCodes):
		return Issued{}, c.tooManyCodes() // refused before the cost of signing
	case errors.Is(err, store.ErrStatusUnconfirmed):
		return Issued{}, errStatusUnconfirmed()
	case err != nil:
		return Issued{}, internal("issue", err)
	}
	dk, err := openDataKey(c.kek, s)
	if err != nil {
		return Issued{}, internal("issue", err)
	}
	m, err := openMasked(s, dk)
	if err != nil {
		return Issued{}, internal("issue", err)
	}
	ci := c.issuer.Load()
	jti, err := trust.NewCodeID(now, c.rand)
	if err != nil {
		return Issued{}, internal("issue", err)
	}
	life := c.cfg.Lifetime
	if paper {
		life = c.cfg.PaperLifetime
	}
	code, cl, err := ci.Issue(jti, now, now.Add(life), trust.Content{Status: trust.Status(s.Status), Name: m.Name, Doc: m.Doc})
	if err != nil {
		return Issued{}, internal("issue", err)
	}
	exp := time.Unix(cl.Expires, 0)
	// The digest of the code's proof of scan: another province's lookup
	// of its holder is answered only with that proof (lookup_answer.go).
	digest, err := trust.ScanDigest(code)
	if err != nil {
		return Issued{}, internal("issue", err)
	}
	rec := store.Code{JTI: jti, SubjectID: id, KID: ci.KeyID(), Status: s.Status,
		IssuedAt: now, Expires: exp, Paper: paper, TextCT: dk.Seal(codeAAD(id, jti), []byte(code)),
		ScanDigest: digest, MaxLive: c.cfg.MaxLive}
	if p.Role == RoleResident {
		// Recorded only while the token it was asked with stands: a
		// wallet link replaced meanwhile revoked the old phone's codes,
		// and this one must not outlive it.
		rec.Token = []byte(p.tokenHash)
	}
	// A resident asking for a code is still using the service: their
	// record is kept privacy.retention.subjects from now, not from their
	// enrolment. Moved at most once a retainSlack, not with every code.
	if keep := now.Add(c.retain); s.RetainUntil.Before(keep.Add(-retainSlack)) {
		rec.RetainUntil = keep
	}
	err = res.InsertCode(ctx, rec)
	switch {
	case errors.Is(err, store.ErrStatusChanged):
		return Issued{}, err
	case errors.Is(err, store.ErrTooManyCodes):
		return Issued{}, c.tooManyCodes()
	case errors.Is(err, store.ErrStatusUnconfirmed):
		return Issued{}, errStatusUnconfirmed()
	case errors.Is(err, store.ErrNotFound):
		return Issued{}, Errorf(ENotFound, "no such subject")
	case errors.Is(err, store.ErrTokenGone):
		return Issued{}, Errorf(EUnauthorized, "unknown token")
	case err != nil:
		return Issued{}, internal("issue", err)
	}
	return Issued{Code: code, JTI: jti, Expires: exp, QRURL: "/v1/codes/" + jti + "/qr.png"}, nil
}

// phoneExpiry is the expiry issue gives a phone code issued at iat, as
// its claims and the revocation of it carry it (link markers take it).
func (c *codes) phoneExpiry(iat time.Time) time.Time {
	exp := iat.Add(c.cfg.Lifetime)
	if ci := c.issuer.Load(); ci != nil {
		return ci.Expiry(iat, exp)
	}
	return time.Unix(exp.Unix(), 0)
}

// tooManyCodes refuses a code past codes.max_live.
func (c *codes) tooManyCodes() error {
	return Errorf(ELimitReached, "this resident already holds %d live codes, the most allowed; "+
		"show one of them, or wait until one expires (an operator setting the status again revokes them all)", c.cfg.MaxLive)
}

// errStatusUnconfirmed refuses a code to a resident marked
// store.Subject.StatusUnconfirmed (a restore lost the status set for
// them after the backup). Read by an operator at the counter and by the
// resident in the wallet, it says what either is to do.
func errStatusUnconfirmed() error {
	return Errorf(EStatusUnconfirmed, "no code can be issued: this node was restored from a backup, and this resident's "+
		"health status was set after that backup, so the status it holds may be out of date. "+
		"An operator must set the status again (the health authority's current one) before codes are issued; "+
		"residents: contact the health authority or a service point")
}

// retainSlack is how far a resident's retention date may lag behind
// their last code before issuance moves it.
const retainSlack = 24 * time.Hour

func codeAAD(subjectID, jti string) []byte { return []byte("subject:" + subjectID + ":code:" + jti) }
