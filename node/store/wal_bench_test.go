package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// BenchmarkInsertCodeWALPages counts the pages issuance writes to the WAL
// for each code, a figure that depends on the schema and on how codes are
// laid out, not on the machine's speed: 10,000 subjects (seedBulk), codes
// with a 640-byte sealed text (about a real code's) inserted from 32
// callers in group commits as a busy node's issuance does, the ids made by
// trust.NewCodeID as the node's ("jti=timed") or drawn at random
// ("jti=random"). Automatic checkpoints are off during the run, so that
// the WAL holds every page written; it reports WAL pages per code and the
// codes each commit gathered, on which the first depends.
//
//	go test -run '^$' -bench InsertCodeWALPages -benchtime 8000x ./node/store
func BenchmarkInsertCodeWALPages(b *testing.B) {
	const subjects, callers = 10_000, 32
	for _, timed := range []bool{true, false} {
		b.Run(fmt.Sprintf("jti=%s", map[bool]string{true: "timed", false: "random"}[timed]), func(b *testing.B) {
			db, path := openTestDB(b)
			seedBulk(b, path, subjects)
			ctx := context.Background()
			if _, err := db.w.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				b.Fatal(err)
			}
			text := make([]byte, 640)
			var next atomic.Int64
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			commits := db.batch.commits.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					now := time.Now()
					id, err := trust.NewCodeID(now, nil)
					if !timed {
						id, err = trust.NewJTI(nil)
					}
					if err != nil {
						b.Error(err)
						return
					}
					c := Code{JTI: id, SubjectID: fmt.Sprintf("s-%07d", next.Add(1)%subjects), KID: "kid-1",
						Status: "green", IssuedAt: now, Expires: now.Add(24 * time.Hour), TextCT: text, MaxLive: 8}
					if err := db.InsertCode(ctx, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			var busy, frames, done int
			if err := db.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(frames)/float64(b.N), "wal-pages/code")
			b.ReportMetric(float64(b.N)/float64(db.batch.commits.Load()-commits), "codes/commit")
		})
	}
}
