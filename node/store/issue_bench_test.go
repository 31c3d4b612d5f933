//go:build unix

package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSubjectForIssueDuringInserts is issuance's read of a subject
// and its live count, from parallel callers with a context that can be
// cancelled (as every HTTP request's), while another goroutine records
// codes, so that commits keep invalidating the readers' page caches as
// they do under issuance. cpu-us/op is the process's CPU per read. The
// issuance cache is off: this is the read from the database, as for a
// resident who has not asked for a code in the last minutes.
//
//	go test -run '^$' -bench SubjectForIssueDuringInserts -benchtime 20000x ./node/store
func BenchmarkSubjectForIssueDuringInserts(b *testing.B) {
	const subjects = 2000
	db, _ := openTestDB(b)
	db.SetIssueCacheEntries(0)
	ctx := context.Background()
	for i := range subjects {
		enrol(b, db, fmt.Sprint("s", i))
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := testCode(fmt.Sprint("j", i), fmt.Sprint("s", i%subjects))
			if err := db.InsertCode(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	cpu0 := rusageCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.SubjectForIssue(reqCtx, fmt.Sprint("s", next.Add(1)%subjects), t0, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((rusageCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	close(stop)
	<-stopped
}

// rusageCPU is the process's user and system CPU time so far.
func rusageCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
