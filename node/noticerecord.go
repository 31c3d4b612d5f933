package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/store"
)

// A notice version names one text (seed rule 2): a resident's consent
// records the version, and the version must still say what they were
// told. The text depends on this build's wording and on the config
// (privacy.purpose, retention, receipts...), so an upgrade or a config
// change could serve another text under an operator's own version. The
// node therefore records, the first time it serves a version, that
// version's text and SHA-256 (store.ServedNotice), and a start whose
// notice differs from the one recorded under its version is refused
// (NoticeChangedError): the operator sets a new version, and residents
// who consented to the old one keep their consent.

// servedNotice is the notice a node serves, its canonical text, and
// whether that text is recorded under its version.
type servedNotice struct {
	notice      Notice
	text        []byte // canonicalNotice(notice)
	sum         [sha256.Size]byte
	firstServed time.Time // when the version was first served, if it was before New
	db          *store.DB
	now         func() time.Time
	recorded    atomic.Bool
}

// canonicalNotice is the text of a notice its SHA-256 is taken of: its
// JSON as encoding/json writes it (fields in declaration order, map keys
// sorted, no spaces), both languages included.
func canonicalNotice(n Notice) []byte {
	b, _ := json.Marshal(n) // strings, string slices and string maps always marshal
	return b
}

// openNotice builds the notice a node with settings cfg serves, and
// compares it with the text recorded under its version: a
// *NoticeChangedError if they differ. A config naming an earlier build's
// version (config.SupersededNotices) serves this build's version, so that
// is the one compared.
func openNotice(ctx context.Context, db *store.DB, cfg config.Config, now func() time.Time) (*servedNotice, error) {
	if _, ok := config.SupersededNotices[cfg.Privacy.NoticeVersion]; ok {
		cfg.Privacy.NoticeVersion = config.NoticeVersion
	}
	s := &servedNotice{notice: noticeOf(cfg), db: db, now: now}
	s.text = canonicalNotice(s.notice)
	s.sum = sha256.Sum256(s.text)
	held, err := db.Notice(ctx, s.notice.Version)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.same(held); err != nil {
		return nil, err
	}
	s.firstServed = held.FirstServed
	return s, nil
}

// same accepts held, the text recorded under s's version, if it is s's
// text, and refuses it with a *NoticeChangedError if not.
func (s *servedNotice) same(held store.ServedNotice) error {
	if !bytes.Equal(held.SHA256, s.sum[:]) {
		return &NoticeChangedError{Version: s.notice.Version, FirstServed: held.FirstServed,
			Changed: changedFields([]byte(held.Text), s.text)}
	}
	s.recorded.Store(true)
	return nil
}

// record records s's text under its version unless it already is: the
// first time the node serves the notice or takes a consent to it.
func (s *servedNotice) record(ctx context.Context) error {
	if s.recorded.Load() {
		return nil
	}
	held, err := s.db.RecordNotice(ctx, store.ServedNotice{Version: s.notice.Version, SHA256: s.sum[:],
		Text: string(s.text), FirstServed: s.now()})
	if err != nil {
		return internal("record notice", err)
	}
	return s.same(held)
}

// NoticeChangedError refuses a start that would serve, under a notice
// version already served, another text than the one served: the
// residents who consented to that version were told the earlier text.
type NoticeChangedError struct {
	Version     string
	FirstServed time.Time
	// Changed names the notice's parts (their JSON names: purpose,
	// text, retention...) that differ; empty if the recorded text could
	// not be read.
	Changed []string
}

func (e *NoticeChangedError) Error() string {
	what := "its text"
	if len(e.Changed) > 0 {
		what = "its " + strings.Join(e.Changed, ", ")
	}
	return fmt.Sprintf("privacy.notice_version %s names the privacy notice this node has served since %s, and this build "+
		"with this config would serve another text under it (%s changed), so the consent residents gave to %s would no "+
		"longer say what they were told. Set a new privacy.notice_version for the new text; residents who consented "+
		"to %s keep their consent, and new enrolments need consent to the new version",
		e.Version, e.FirstServed.UTC().Format(time.RFC3339), what, e.Version, e.Version)
}

// changedFields names the top-level fields in which two canonical notice
// texts differ, sorted; nil if either cannot be read.
func changedFields(old, cur []byte) []string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(cur, &b) != nil {
		return nil
	}
	var changed []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			changed = append(changed, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	return changed
}

// ServedNoticeCheck is what a preflight learns of the notice a start
// would serve.
type ServedNoticeCheck struct {
	Version string
	// FirstServed is when the node first served this version; zero if it
	// never has (the text is recorded when it first does).
	FirstServed time.Time
}

// CheckNotice compares the notice a start with cfg would serve with the
// text recorded under its version, as New does, so that a start that
// would be refused is refused with the same *NoticeChangedError. It
// writes nothing: db may be store.OpenReadOnly's.
func CheckNotice(ctx context.Context, db *store.DB, cfg config.Config) (ServedNoticeCheck, error) {
	s, err := openNotice(ctx, db, cfg, nil)
	if err != nil {
		return ServedNoticeCheck{}, err
	}
	return ServedNoticeCheck{Version: s.notice.Version, FirstServed: s.firstServed}, nil
}
