package node

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// records owns the privacy records a resident can see about themselves
// and dispute (seed rules 6, 8 and 9): their record (record.go), the
// verifications of their codes, here and, from receipts, elsewhere
// (verifications.go, receipts.go), and their appeals (appeals.go); and,
// on the visited side, the queueing of a receipt for the home province of
// a foreign code verified here (noteVerification). It keeps no state in
// memory: everything is in the database, and the receipt queue is the
// connected Peers'. It reaches the database, the KEK, the settings, the
// metrics, the clock and the random source it is given, access to charge
// and audit operators' reads of the appeal queue, Node.peers to queue
// receipts, and revoked, the residents' hook that applies and publishes a
// revocation (an upheld appeal that sets a status revokes codes); none of
// this state lives on Node.
//
// Node keeps one thin exported entry point per operation (in the files
// above), so that node/api, node/web and the tests speak to the node
// alone.
type records struct {
	db       *store.DB
	kek      *seal.Key
	province string
	receipts string // privacy.receipts: config.ReceiptsSend or config.ReceiptsOff
	metrics  *Metrics
	clock    // now, and audit entries at it (audit.go)
	rand     io.Reader
	access   *access                // charges and audits operators' reads, the appeal queue's too (reads.go)
	peers    *atomic.Pointer[Peers] // Node.peers: set while connected
	// revoked applies a committed revocation and tells the federation
	// (residents.revoked).
	revoked func(context.Context, *store.Revocation)
}

// newRecords builds the node's privacy records service.
func newRecords(db *store.DB, kek *seal.Key, s config.Config, m *Metrics, now func() time.Time, rand io.Reader,
	a *access, peers *atomic.Pointer[Peers], revoked func(context.Context, *store.Revocation)) *records {
	return &records{db: db, kek: kek, province: s.Province, receipts: s.Privacy.Receipts, metrics: m, clock: clock{now},
		rand: rand, access: a, peers: peers, revoked: revoked}
}

// subjectWithKey loads a subject and opens its data key.
func (rs *records) subjectWithKey(ctx context.Context, id string) (store.Subject, *seal.Key, error) {
	return loadSubjectWithKey(ctx, rs.db, rs.kek, id)
}
