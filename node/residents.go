package node

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// residents owns the node's residents: their enrolment with consent
// (subjects.go), their status changes, one at a time or in bulk batches
// (bulk.go), their deletion, the revocation of their codes that a status
// change or a deletion commits (revoked), and the subjects' blind index
// of ID numbers whose key it holds (subjectindex.go). It reaches the
// database, the KEK, the trust state, the settings, the logger, the
// metrics, the clock and the random source it is given; codes, to drop
// the QR images of revoked and deleted codes; access, to forget a deleted
// resident's tokens; and the federation through Node.fed, to publish a
// revocation. None of this state lives on Node.
//
// Node keeps one thin exported entry point per operation (subjects.go,
// bulk.go), so that node/api, node/web and the tests speak to the node
// alone.
type residents struct {
	db      *store.DB
	kek     *seal.Key
	state   *trust.State
	cfg     config.Config
	log     *slog.Logger
	metrics *Metrics
	clock   // now, and audit entries at it (audit.go)
	rand    io.Reader
	codes   *codes                  // drops cached QR images (codes.go)
	access  *access                 // forgets a deleted resident's tokens (access.go)
	fed     *atomic.Pointer[fedBox] // Node.fed: set once the node connects
	notice  *servedNotice           // the notice consent is given to (noticerecord.go)

	indexKey []byte // the subjects' blind index key (subjectindex.go)
	// bulkTurn lets one bulk status batch at a time seal, commit and
	// publish (BulkStatus.Flush): each is up to BulkBatchLines changes in
	// one transaction on the writer issuance shares, so issuance waits
	// for at most one however many streams are open.
	bulkTurn chan struct{}
}

// newResidents builds the node's residents service over indexKey, the
// blind index key openSubjectIndex opened.
func newResidents(indexKey []byte, db *store.DB, kek *seal.Key, state *trust.State, s config.Config,
	log *slog.Logger, m *Metrics, now func() time.Time, rand io.Reader, c *codes, a *access,
	fed *atomic.Pointer[fedBox]) *residents {
	return &residents{db: db, kek: kek, state: state, cfg: s, log: log, metrics: m, clock: clock{now}, rand: rand,
		codes: c, access: a, fed: fed, indexKey: indexKey, bulkTurn: make(chan struct{}, 1)}
}

// revoked applies a committed revocation locally at once and tells the
// federation layer to publish it (rev may span several statements).
func (r *residents) revoked(ctx context.Context, rev *store.Revocation) {
	if rev == nil {
		return
	}
	r.state.RevokeOwn(rev.Seq, toTrustEntries(rev.Entries), r.now())
	r.codes.forgetRevoked(rev)
	r.metrics.Revoked.Add(float64(len(rev.Entries) - rev.Markers))
	r.metrics.OutboxPending.Add(float64(rev.Seq - min(rev.FirstSeq, rev.Seq) + 1))
	if f := loadFederation(r.fed); f != nil {
		f.RevocationsPending(ctx)
	}
}
