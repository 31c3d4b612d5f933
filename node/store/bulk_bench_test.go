package store

import (
	"fmt"
	"testing"
	"time"
)

// seedBulk writes n green subjects s-000000..., each with one live code,
// straight into the file (one transaction), for the bulk benchmarks.
func seedBulk(b *testing.B, path string, n int) {
	b.Helper()
	raw := rawDB(b, path)
	_, err := raw.Exec(`WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < ? - 1)
		INSERT INTO subjects (id, name_ct, id_number_ct, masked_ct, status, status_since, created, retain_until)
		SELECT printf('s-%07d', x), x'00', x'00', x'00', 'green', ?, ?, ? FROM i`,
		n, nanos(t0), nanos(t0), nanos(t0.Add(365*24*time.Hour)))
	if err != nil {
		b.Fatal(err)
	}
	_, err = raw.Exec(`INSERT INTO codes (jti, subject_id, kid, issued_at, expires)
		SELECT 'c-' || id, id, 'kid-1', ?, ? FROM subjects`, nanos(t0), nanos(t0.Add(24*time.Hour)))
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSetStatusBatch commits status changes (green to yellow) in
// batches of 500, as POST /v1/statuses does, on a real SQLite file; every
// subject has one live code, revoked and appended to the outbox with the
// change and its audit entry. It reports committed lines per second.
func BenchmarkSetStatusBatch(b *testing.B) {
	const batch = 500
	db, path := openTestDB(b)
	seedBulk(b, path, b.N)
	now := t0.Add(time.Hour)
	changes := make([]StatusChange, 0, batch)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += batch {
		changes = changes[:0]
		for j := i; j < min(i+batch, b.N); j++ {
			id := fmt.Sprintf("s-%07d", j)
			changes = append(changes, StatusChange{SubjectID: id, Status: "yellow",
				Audit: AuditEntry{Time: now, Actor: "operator", Action: "subject.status", Target: id,
					Detail: `{"bulk":true,"reason":"benchmark","status":"yellow"}`}})
		}
		out, rev, err := db.SetStatusBatch(b.Context(), changes, now)
		if err != nil || out[0] != StatusApplied || rev == nil || len(rev.Entries) != len(changes) {
			b.Fatalf("batch at %d: %v, %v", i, err, rev)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
}
