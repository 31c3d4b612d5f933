package federation

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// writeRawSnapshot stores province's snapshot object in bucket behind
// PutSnapshot's back, as a hostile member could: the chunks given, then
// metadata claiming size bytes in claimed chunks, with the digest of
// what the chunks hold.
func writeRawSnapshot(t *testing.T, c *Conn, bucket, province, nuid string, size uint64, claimed uint32, chunks ...[]byte) {
	t.Helper()
	h := sha256.New()
	for _, ch := range chunks {
		h.Write(ch)
	}
	digest := "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil))
	writeRawSnapshotDigest(t, c, bucket, province, nuid, size, claimed, digest, chunks...)
}

// writeRawSnapshotDigest is writeRawSnapshot with the metadata naming
// digest, whatever the chunks hold.
func writeRawSnapshotDigest(t *testing.T, c *Conn, bucket, province, nuid string, size uint64, claimed uint32, digest string, chunks ...[]byte) {
	t.Helper()
	for _, ch := range chunks {
		if _, err := c.js.Publish(testCtx(t), "$O."+bucket+".C."+nuid, ch); err != nil {
			t.Fatal(err)
		}
	}
	meta, err := json.Marshal(jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: province},
		Bucket:     bucket, NUID: nuid, Size: size, Chunks: claimed, Digest: digest,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(province)))
	m.Header.Set("Nats-Rollup", "sub")
	m.Data = meta
	// Published through JetStream, each waits for the stream's ack: a
	// core publish and a flush only say the server read the message, and
	// under load a reader right after could still find no object.
	if _, err := c.js.PublishMsg(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
}

// manyChunkObjects are snapshot objects whose metadata claims more chunks
// than their size needs: each would cost a reader a round trip per chunk.
var manyChunkObjects = map[string]struct {
	size    uint64
	claimed uint32
	chunks  [][]byte
}{
	"one byte in empty chunks and a full one": {1, 2 + snapshotChunkSlack, append(make([][]byte, 1+snapshotChunkSlack), []byte{'x'})},
	"empty, in empty chunks":                  {0, 1 + snapshotChunkSlack, make([][]byte, 1+snapshotChunkSlack)},
	"more chunks than its size needs":         {snapshotObjectChunkLen + 1, 3 + snapshotChunkSlack, append([][]byte{bytes.Repeat([]byte("x"), snapshotObjectChunkLen), {'x'}}, make([][]byte, 1+snapshotChunkSlack)...)},
	"bytes in no chunk":                       {1, 0, nil},
}

// TestGetSnapshotRefusesTooManyChunks: a member that writes its snapshot
// as many tiny chunks is refused from its metadata, before any chunk is
// fetched (before the fix the first two were read chunk by chunk and
// returned).
func TestGetSnapshotRefusesTooManyChunks(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	for name, tc := range manyChunkObjects {
		writeRawSnapshot(t, gd, gd.snapBucket, "440000", "N"+base64.RawURLEncoding.EncodeToString([]byte(name))[:12], tc.size, tc.claimed, tc.chunks...)
		before := sh.Stats()
		if b, err := sh.GetSnapshot(testCtx(t), "440000"); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %d bytes, %v; want ErrMalformed", name, len(b), err)
		}
		if st := sh.Stats(); st.SnapshotsMalformed != before.SnapshotsMalformed+1 || st.SnapshotsFetched != 0 {
			t.Errorf("%s: stats %+v", name, st)
		}
	}
}

// TestAccountsGetSnapshotRefusesTooManyChunks is the same in accounts
// mode, where a member writes whatever it likes into its own bucket.
func TestAccountsGetSnapshotRefusesTooManyChunks(t *testing.T) {
	t.Parallel()
	f := runAccountsServer(t)
	gdc, shc := f.node(t, gd), f.node(t, sh)
	bucket := ownSnapshotBucketName(testFed, gd)
	for name, tc := range manyChunkObjects {
		writeRawSnapshot(t, gdc, bucket, gd, "N"+base64.RawURLEncoding.EncodeToString([]byte(name))[:12], tc.size, tc.claimed, tc.chunks...)
		for _, c := range []*Conn{shc, gdc} {
			if b, err := c.GetSnapshot(testCtx(t), gd); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s read by %s: %d bytes, %v; want ErrMalformed", name, c.Province(), len(b), err)
			}
		}
	}
	if st := shc.Stats(); st.SnapshotsMalformed != uint64(len(manyChunkObjects)) || st.SnapshotsFetched != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestGetSnapshotIgnoresChunksAppendedByOthers: in the shared bucket any
// province may write chunks, but a reader reads only as many as the
// metadata names, so chunks another member appends to a snapshot's chunk
// subject neither spoil it nor make reading it longer (before the fix
// the object store's reader read them all and failed on the digest).
func TestGetSnapshotIgnoresChunksAppendedByOthers(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	bj := connectReady(t, s, "110000")
	ctx := testCtx(t)
	snap := fakeSnapshot(7, 2*snapshotObjectChunkLen+10)
	if err := gd.PutSnapshot(ctx, "440000", snap); err != nil {
		t.Fatal(err)
	}
	info := storedSnapshotInfo(t, bj, "440000")
	if info.Chunks != 3 {
		t.Fatalf("PutSnapshot stored %d bytes in %d chunks, want 3 of %d bytes", info.Size, info.Chunks, snapshotObjectChunkLen)
	}
	for range 100 {
		if err := bj.nc.Publish("$O."+bj.snapBucket+".C."+info.NUID, []byte("stray")); err != nil {
			t.Fatal(err)
		}
	}
	if err := bj.nc.FlushWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := sh.GetSnapshot(ctx, "440000"); err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("GetSnapshot after stray chunks: %d bytes, %v; want the %d put", len(got), err, len(snap))
	}
}

// TestPutSnapshotStoresWholeChunks: a snapshot put in parts of any sizes
// is stored in as many chunks as its size needs, so that readers, which
// refuse more, take it. Before, each part ended in a short chunk of its
// own, and the 5M-entry snapshot of BenchmarkSnapshotRoundTrip (three
// parts) claimed 765 chunks where 764 were allowed.
func TestPutSnapshotStoresWholeChunks(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connectReady(t, s, "440000")
	sh := connectReady(t, s, "310000")
	ctx := testCtx(t)
	snap := fakeSnapshot(7, 3*snapshotObjectChunkLen+100)
	parts := [][]byte{snap[:100], snap[100 : 100+snapshotObjectChunkLen+5], snap[100+snapshotObjectChunkLen+5 : len(snap)-7], snap[len(snap)-7:]}
	if err := gd.PutSnapshot(ctx, "440000", parts...); err != nil {
		t.Fatal(err)
	}
	if info := storedSnapshotInfo(t, sh, "440000"); info.Size != uint64(len(snap)) || info.Chunks != 4 {
		t.Errorf("four parts of %d bytes in all stored as %d bytes in %d chunks, want 4", len(snap), info.Size, info.Chunks)
	}
	if got, err := sh.GetSnapshot(ctx, "440000"); err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("GetSnapshot: %d bytes, %v", len(got), err)
	}
}

// storedSnapshotInfo is the object store's record of province's snapshot
// as c reads it: its size, chunks and NUID.
func storedSnapshotInfo(t *testing.T, c *Conn, province string) *jetstream.ObjectInfo {
	t.Helper()
	obs, err := c.snapshotHandle(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(testCtx(t), province)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
