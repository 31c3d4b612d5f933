package federation

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hcfed/hcfed/trust"
)

// BenchmarkSnapshotRoundTrip measures a revocation snapshot of 1M and 5M
// entries end to end: encode and sign (build), PutSnapshot (publish),
// GetSnapshot from another province's connection (fetch), and verify and
// apply at a fresh State (apply). It reports the bytes on the wire, the
// heap the State holds per revoked code afterwards, and the process's
// peak RSS (the embedded NATS server included).
//
//	go test -run '^$' -bench SnapshotRoundTrip -benchtime 1x ./federation
func BenchmarkSnapshotRoundTrip(b *testing.B) {
	for _, n := range []int{1_000_000, 5_000_000} {
		b.Run(strconv.Itoa(n/1000)+"k", func(b *testing.B) { benchSnapshotRoundTrip(b, n) })
	}
}

func benchSnapshotRoundTrip(b *testing.B, n int) {
	f := newFixture(b)
	s := runServer(b)
	gdc := connectReady(b, s, gd)
	shc := connectReady(b, s, sh)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	exp := f.now.Add(24 * time.Hour).Unix()
	for b.Loop() {
		t0 := time.Now()
		var w trust.SnapshotEncoder
		body := make([]byte, 0, n*trust.SnapshotEntryLen)
		var id [trust.JTILen]byte
		for i := range n {
			binary.BigEndian.PutUint64(id[8:], uint64(i))
			copy(id[:6], gd)
			chunk, err := w.Add(base64.RawURLEncoding.EncodeToString(id[:]), exp)
			if err != nil {
				b.Fatal(err)
			}
			body = append(body, chunk...)
		}
		body = append(body, w.Flush()...)
		manifest, err := f.p(gd).signer.Sign(trust.TypSnapshot, w.Manifest(gd, 1, f.now.Unix()))
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := gdc.PutSnapshot(ctx, gd, []byte(manifest), []byte{'\n'}, body); err != nil {
			b.Fatal(err)
		}
		body = nil
		t2 := time.Now()
		raw, err := shc.GetSnapshot(ctx, gd)
		if err != nil {
			b.Fatal(err)
		}
		wire := len(raw)
		t3 := time.Now()
		st := f.newState(sh)
		if err := st.ApplyTrustList(f.trustList, f.now); err != nil {
			b.Fatal(err)
		}
		if err := st.ApplyKeyset(gd, string(f.keyset(gd, 1)), f.now); err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		held := before.HeapAlloc - uint64(cap(raw))
		if err := st.ApplyRevocationSnapshot(gd, raw, f.now); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		raw = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if st.RevokedLen() != n || !st.Revoked(gd, base64.RawURLEncoding.EncodeToString(id[:])) {
			b.Fatalf("%d revoked after the snapshot, want %d", st.RevokedLen(), n)
		}
		b.ReportMetric(t1.Sub(t0).Seconds(), "build-s")
		b.ReportMetric(t2.Sub(t1).Seconds(), "publish-s")
		b.ReportMetric(t3.Sub(t2).Seconds(), "fetch-s")
		b.ReportMetric(t4.Sub(t3).Seconds(), "apply-s")
		b.ReportMetric(float64(wire), "wire-B")
		b.ReportMetric(float64(wire)/float64(n), "wire-B/entry")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(held))/float64(n), "held-B/entry")
		b.ReportMetric(peakRSSMB(), "peakRSS-MB")
		runtime.KeepAlive(st)
	}
}

// peakRSSMB is the process's peak resident set (VmHWM), in MB, or 0 where
// /proc is not available.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			var kb float64
			if _, err := fmt.Sscan(string(rest), &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}
