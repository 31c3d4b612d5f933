package trust

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

func sha256b64(b []byte) string {
	sum := sha256.Sum256(b)
	return b64url.EncodeToString(sum[:])
}

// liveEntries makes n revocation entries of codes that expire in an hour.
func liveEntries(t testing.TB, n int, now time.Time) []RevocationEntry {
	t.Helper()
	es := make([]RevocationEntry, n)
	for i := range es {
		es[i] = RevocationEntry{JTI: mustJTI(t), Expires: now.Add(time.Hour).Unix()}
	}
	return es
}

func TestSnapshotSpanningChunksRoundTripsAndRevokes(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	es := liveEntries(t, SnapshotChunkEntries+7, f.Now)
	bundle, err := BuildRevocationSnapshot(f.GD.Active, gd, 9, f.Now.Unix(), es)
	if err != nil {
		t.Fatal(err)
	}
	manifest, body, err := SplitSnapshot(bundle)
	if err != nil || len(body) != len(es)*SnapshotEntryLen || len(manifest) > 1024 {
		t.Fatalf("bundle: manifest %d bytes, body %d bytes, %v", len(manifest), len(body), err)
	}
	m, err := ParseSnapshotManifest(manifest, gd, f.GD.Keys)
	if err != nil || len(m.Chunks) != 2 || m.Chunks[1].Entries != 7 || m.Count != len(es) {
		t.Fatalf("manifest %+v, %v; want 2 chunks", m, err)
	}
	r, err := ParseRevocationSnapshot(bundle, gd, f.GD.Keys)
	if err != nil || r.Seq != 9 || !slices.Equal(r.Entries(), es) {
		t.Fatalf("snapshot seq %v, %v; entries differ from those encoded", r, err)
	}
	if err := f.State.ApplyRevocationSnapshot(gd, bundle, f.Now); err != nil {
		t.Fatal(err)
	}
	if !f.State.Revoked(gd, es[0].JTI) || !f.State.Revoked(gd, es[len(es)-1].JTI) || f.State.Revoked(gd, mustJTI(t)) {
		t.Fatal("applied snapshot does not answer Revoked exactly")
	}
	if n := f.State.RevokedLen(); n != len(es) {
		t.Fatalf("RevokedLen = %d, want %d", n, len(es))
	}
	f.State.Prune(f.Now.Add(2*time.Hour + ClockSkew))
	if n := f.State.RevokedLen(); n != 0 {
		t.Fatalf("RevokedLen after the codes expired = %d", n)
	}
}

func TestSnapshotTamperedChunkRefusedAsBadChunk(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	bundle, err := BuildRevocationSnapshot(f.GD.Active, gd, 3, f.Now.Unix(), liveEntries(t, 10, f.Now))
	if err != nil {
		t.Fatal(err)
	}
	bundle[len(bundle)-1] ^= 1
	wantReason(t, f.State.ApplyRevocationSnapshot(gd, bundle, f.Now), ReasonBadChunk)
	if f.State.RevocationSeq(gd) != 0 || f.State.RevokedLen() != 0 {
		t.Fatal("a refused snapshot changed the state")
	}
	manifest, body, _ := SplitSnapshot(bundle)
	m, err := ParseSnapshotManifest(manifest, gd, f.GD.Keys)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, m.CheckChunk(0, body), ReasonBadChunk)
	wantReason(t, m.CheckChunk(1, body), ReasonBadChunk)
}

func TestSnapshotManifestOfAnotherProvinceRefused(t *testing.T) {
	f := newStateFixture(t, StateConfig{})
	f.withGuangdong(t)
	es := liveEntries(t, 3, f.Now)
	bySH, err := BuildRevocationSnapshot(f.SH.Active, gd, 3, f.Now.Unix(), es)
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, f.State.ApplyRevocationSnapshot(gd, bySH, f.Now), ReasonUnknownKey)
	ofSH, _ := BuildRevocationSnapshot(f.GD.Active, sh, 3, f.Now.Unix(), es)
	wantReason(t, f.State.ApplyRevocationSnapshot(gd, ofSH, f.Now), ReasonWrongSigner)
	if f.State.Revoked(gd, es[0].JTI) {
		t.Fatal("a refused snapshot revoked a code")
	}
}

func TestSnapshotEncoderRefusesBadEntries(t *testing.T) {
	var w SnapshotEncoder
	for _, e := range []RevocationEntry{{JTI: "short", Expires: 1}, {JTI: mustJTI(t), Expires: 0},
		{JTI: mustJTI(t), Expires: 1 << 33}} {
		if _, err := w.Add(e.JTI, e.Expires); ReasonOf(err) != ReasonMalformed {
			t.Errorf("Add(%+v) = %v, want malformed", e, err)
		}
	}
	if w.Flush() != nil || w.Manifest(gd, 1, 1).Count != 0 {
		t.Fatal("refused entries were encoded")
	}
}

// FuzzParseRevocationSnapshot feeds arbitrary bundles to the parser: it
// never panics, refuses with a known reason, and what it accepts decodes
// to as many live-shaped entries as its manifest says.
func FuzzParseRevocationSnapshot(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(vectorDir, snapshotFixtureFile))
	if err != nil {
		f.Fatal(err)
	}
	var fx snapshotFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		f.Fatal(err)
	}
	keys := vectorKeys(f, fx.Keys[gd])
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, bundle []byte) {
		r, err := ParseRevocationSnapshot(bundle, gd, keys)
		if reason := ReasonOf(err); !slices.Contains(allReasons, reason) {
			t.Fatalf("unknown reason %q", reason)
		}
		if err != nil {
			return
		}
		es := r.Entries()
		if len(es) != r.Count || r.Issuer != gd {
			t.Fatalf("accepted snapshot of %s decodes %d entries, says %d", r.Issuer, len(es), r.Count)
		}
		for _, e := range es {
			if !isJTI(e.JTI) || e.Expires <= 0 {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}

// BenchmarkRevokedSetBytesPerEntry measures the heap a peer holds per
// revoked code after applying a snapshot of b.N-independent size (1M).
func BenchmarkRevokedSetBytesPerEntry(b *testing.B) {
	const n = 1_000_000
	now := testNow
	var w SnapshotEncoder
	var body []byte
	for range n {
		c, err := w.Add(mustJTI(b), now.Add(time.Hour).Unix())
		if err != nil {
			b.Fatal(err)
		}
		body = append(body, c...)
	}
	body = append(body, w.Flush()...)
	snap := &RevocationSnapshot{Issuer: gd, Seq: 1, Count: n, body: body}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		set := revokedSet{m: map[string]map[[JTILen]byte]uint32{}}
		set.addSnapshot(gd, snap, now, MaxLiveRevocations)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(set.m[gd]) != n {
			b.Fatalf("%d entries held", len(set.m[gd]))
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
		runtime.KeepAlive(&set)
	}
}
