package store

import (
	"crypto/rand"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// BenchmarkSnapshotEncodeFromStore1M is the publisher's side of a
// revocation snapshot (node.Link.encodeSnapshot without the signature):
// count, then stream 1,000,000 live revoked codes from the store into
// trust.SnapshotEncoder. It reports the bytes allocated per entry in all
// (garbage included) and the live heap growth per entry at the end, which
// is the 20-byte encoding held for the upload.
//
//	go test -run '^$' -bench SnapshotEncodeFromStore1M -benchtime 1x ./node/store
func BenchmarkSnapshotEncodeFromStore1M(b *testing.B) {
	const n, batch = 1_000_000, 500
	db, _ := openTestDB(b)
	ctx := b.Context()
	now := time.Now()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO codes (jti, kid, issued_at, expires, revoked) VALUES `+
		strings.TrimSuffix(strings.Repeat(`(?, 'bulk', ?, ?, 1),`, batch), ","))
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, 3*batch)
	for range n / batch {
		args = args[:0]
		for range batch {
			j, err := trust.NewJTI(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			args = append(args, j, nanos(now), nanos(now.Add(time.Hour)))
		}
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		count, err := db.CountLiveRevocations(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
		body := make([]byte, 0, (count+count/64+1)*trust.SnapshotEntryLen)
		var w trust.SnapshotEncoder
		err = db.EachLiveRevocation(ctx, now, func(e RevocationEntry) error {
			chunk, err := w.Add(e.JTI, e.Expires.Unix())
			body = append(body, chunk...)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		body = append(body, w.Flush()...)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(body) != n*trust.SnapshotEntryLen {
			b.Fatalf("encoded %d bytes, want %d", len(body), n*trust.SnapshotEntryLen)
		}
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "alloc-B/entry")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "held-B/entry")
		runtime.KeepAlive(body)
	}
}
