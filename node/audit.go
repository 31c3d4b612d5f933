package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hcfed/hcfed/internal/backoff"
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
	// auditRetryMin and auditRetryMax bound the wait between attempts to
	// write a batch that failed: it is retried, never dropped.
	auditRetryMin = 50 * time.Millisecond
	auditRetryMax = 5 * time.Second
	// auditFinalTries is how often a failing batch is tried once the node
	// is closing, before its entries are counted lost (loudly).
	auditFinalTries = 3
)

// auditBackoff spaces attempts to write a failed batch.
var auditBackoff = backoff.Policy{Min: auditRetryMin, Max: auditRetryMax}

// auditor appends audit entries of high-volume events (verifications,
// lookups) in the background, in batches, so that a verification does not
// wait for a database transaction of its own. Operators' changes are not
// audited through it: their entries commit in the change's own
// transaction.
//
// A batch that fails is retried with backoff while the failure is counted
// in hcfed_audit_write_failures_total, logged, and reported by Ready; it
// is never dropped silently. Entries that cannot be written at all (the
// database is closed) are counted in hcfed_audit_entries_lost_total and
// logged. Close drains it; an entry added after close is written directly.
type auditor struct {
	db  *store.DB
	log *slog.Logger
	m   *Metrics

	mu     sync.RWMutex // guards closed against sends on a closed ch
	closed bool
	ch     chan store.AuditEntry
	quit   chan struct{} // closed first by close: stop waiting, finish up
	done   chan struct{}
	once   sync.Once

	errMu   sync.Mutex
	failing error // the last write error, while the writer is failing
}

func newAuditor(db *store.DB, log *slog.Logger, m *Metrics) *auditor {
	a := &auditor{db: db, log: log, m: m, ch: make(chan store.AuditEntry, auditQueue),
		quit: make(chan struct{}), done: make(chan struct{})}
	go a.loop()
	return a
}

// add queues e for the writer. Blocking is deliberate: when the log
// cannot keep up, callers slow down rather than lose audit entries. Once
// the auditor is closing, e is written directly instead.
func (a *auditor) add(e store.AuditEntry) {
	a.mu.RLock()
	if !a.closed {
		select {
		case a.ch <- e:
			a.mu.RUnlock()
			return
		case <-a.quit:
		}
	}
	a.mu.RUnlock()
	if err := a.db.AppendAudit(context.Background(), e); err != nil {
		a.lost(err, 1)
	}
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
		a.write(batch)
	}
}

// write appends batch, retrying with backoff until it is written. Once
// the auditor is closing it tries auditFinalTries more times, then counts
// the entries lost.
func (a *auditor) write(batch []store.AuditEntry) {
	final := 0
	for attempt := 0; ; attempt++ {
		err := a.db.AppendAuditBatch(context.Background(), batch)
		if err == nil {
			a.setFailing(nil)
			return
		}
		a.m.AuditFailures.Inc()
		a.setFailing(err)
		d := auditBackoff.Delay(attempt)
		a.log.Error("audit append failed; retrying", "err", err, "entries", len(batch), "retry_in", d.String())
		if errors.Is(err, store.ErrClosed) {
			a.lost(err, len(batch))
			return
		}
		select {
		case <-a.quit:
			if final++; final >= auditFinalTries {
				a.lost(err, len(batch))
				return
			}
		case <-time.After(d):
		}
	}
}

// lost reports entries that could not be written, loudly.
func (a *auditor) lost(err error, n int) {
	a.m.AuditLost.Add(float64(n))
	a.log.Error("audit entries lost", "err", err, "entries", n)
}

func (a *auditor) setFailing(err error) {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	a.failing = err
}

// healthy reports the audit writer's last error while it is failing.
func (a *auditor) healthy() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.failing
}

// close stops the writer after it wrote (or gave up on) what is queued.
// Senders blocked on a full queue, and later callers, write directly.
func (a *auditor) close() {
	a.once.Do(func() {
		close(a.quit)
		a.mu.Lock()
		a.closed = true
		close(a.ch)
		a.mu.Unlock()
	})
	<-a.done
}

// newAuditEntry builds an audit entry at now. target must already be
// pseudonymous: a random subject id, a hashed jti, a key id. detail, a
// map or a struct that encodes to a JSON object, must hold no personal
// data. A change of state is audited by handing the entry to the store
// call that commits it; a high-volume event (a verification, a lookup's
// step) by handing it to the auditor, which writes it in the background.
func newAuditEntry(now time.Time, actor, action, target string, detail any) store.AuditEntry {
	var d string
	if detail != nil {
		b, _ := json.Marshal(detail)
		d = string(b)
	}
	return store.AuditEntry{Time: now.UTC().Truncate(time.Microsecond), Actor: actor, Action: action, Target: target, Detail: d}
}

// clock is a service's clock, embedded in the services that write audit
// entries (access, keySchedule, records, residents): now reads it, and
// auditEntry builds an entry at it.
type clock struct{ now func() time.Time }

// auditEntry builds an audit entry at c's time (see newAuditEntry).
func (c clock) auditEntry(actor, action, target string, detail any) store.AuditEntry {
	return newAuditEntry(c.now(), actor, action, target, detail)
}

// hashJTI pseudonymises a code id for the audit log.
func hashJTI(iss, jti string) string {
	h := sha256.Sum256([]byte(iss + "/" + jti))
	return base64.RawURLEncoding.EncodeToString(h[:12])
}
