package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// Audit batching limits.
const (
	// auditQueue is how many entries may wait for the writer before
	// callers block.
	auditQueue = 4096
	// auditBatch is the most entries written in one transaction.
	auditBatch = 1024
	// auditLinger is how long the writer waits for more entries after the
	// first of a batch. Every transaction costs a commit and an fsync;
	// under load, a short wait turns many small ones into a few large
	// ones. No caller waits for it, and close writes what is queued.
	auditLinger = 5 * time.Millisecond
)

// auditor appends audit entries in the background, in batches, so that a
// verification does not wait for a database transaction of its own. Close
// drains it.
type auditor struct {
	db   *store.DB
	log  *slog.Logger
	ch   chan store.AuditEntry
	done chan struct{}
	once sync.Once
}

func newAuditor(db *store.DB, log *slog.Logger) *auditor {
	a := &auditor{db: db, log: log, ch: make(chan store.AuditEntry, auditQueue), done: make(chan struct{})}
	go a.loop()
	return a
}

func (a *auditor) loop() {
	defer close(a.done)
	batch := make([]store.AuditEntry, 0, auditBatch)
	linger := time.NewTimer(auditLinger)
	defer linger.Stop()
	for e := range a.ch {
		batch = append(batch[:0], e)
		linger.Reset(auditLinger)
	fill:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-a.ch:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			case <-linger.C:
				break fill
			}
		}
		if err := a.db.AppendAuditBatch(context.Background(), batch); err != nil {
			a.log.Error("audit append failed", "err", err, "entries", len(batch))
		}
	}
}

func (a *auditor) close() {
	a.once.Do(func() { close(a.ch) })
	<-a.done
}

// audit records who did what. target must already be pseudonymous: a
// random subject id, a hashed jti, a key id. detail, a map or a struct
// that encodes to a JSON object, must hold no personal data.
func (n *Node) audit(_ context.Context, actor, action, target string, detail any) {
	var d string
	if detail != nil {
		b, _ := json.Marshal(detail)
		d = string(b)
	}
	e := store.AuditEntry{Time: n.now().UTC().Truncate(time.Microsecond), Actor: actor, Action: action, Target: target, Detail: d}
	// Blocking is deliberate: when the log cannot keep up, callers slow
	// down rather than lose audit entries.
	n.auditor.ch <- e
}

// hashJTI pseudonymises a code id for the audit log.
func hashJTI(iss, jti string) string {
	h := sha256.Sum256([]byte(iss + "/" + jti))
	return base64.RawURLEncoding.EncodeToString(h[:12])
}
