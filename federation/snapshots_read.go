package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// A snapshot object is read with one direct get for its metadata and one
// per chunk, never through the object store's consumer, which reads every
// message on the object's chunk subject: the metadata, and every chunk,
// are written by whoever may write the bucket, so the reader bounds its
// work by what the metadata claims and checks that claim first. A
// snapshot of MaxSnapshotLen bytes stored as PutSnapshot stores it is
// read in MaxSnapshotLen/snapshotObjectChunkLen round trips; metadata
// claiming more chunks (a member writing its snapshot as millions of
// empty chunks, to hold every reader's catch-up worker for its whole
// fetch timeout) is refused before any chunk is read, and chunks that
// others appended after the object's own (the shared bucket lets any
// province write chunks) are never read.

// readSnapshot returns province's snapshot object from bucket, and how
// many of its bytes were downloaded, also when it then fails: a snapshot
// refused only once downloaded (a digest or size its chunks do not have)
// cost the reader those bytes, and the byte rate (snapfetch.go) counts
// them. Such a snapshot is malformed (ErrMalformed), and counted.
func (c *Conn) readSnapshot(ctx context.Context, js jetstream.JetStream, bucket, province string) ([]byte, int, error) {
	st, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot of %s: bucket %s: %w", province, bucket, err)
	}
	meta, err := st.GetLastMsgForSubject(ctx, "$O."+bucket+".M."+base64.URLEncoding.EncodeToString([]byte(province)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, fmt.Errorf("%w: snapshot of %s", ErrNotFound, province)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot of %s: %w", province, err)
	}
	if len(meta.Data) > maxPointerLen*16 {
		return nil, 0, fmt.Errorf("%w: snapshot metadata of %s is %d bytes", ErrTooLarge, province, len(meta.Data))
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(meta.Data, &info); err != nil {
		return nil, 0, fmt.Errorf("snapshot of %s: metadata: %w", province, err)
	}
	if info.Deleted {
		return nil, 0, fmt.Errorf("%w: snapshot of %s", ErrNotFound, province)
	}
	if info.Size > uint64(c.maxSnap) {
		c.stats.snapOversized.Add(1)
		return nil, 0, fmt.Errorf("%w: snapshot of %s is %d bytes, limit %d", ErrTooLarge, province, info.Size, c.maxSnap)
	}
	if err := checkSnapshotChunks(info.Size, info.Chunks); err != nil {
		return nil, 0, c.malformedSnapshot("snapshot of %s: %v", province, err)
	}
	chunks := "$O." + bucket + ".C." + info.NUID
	b := bytes.NewBuffer(make([]byte, 0, int(info.Size)))
	h := sha256.New()
	next := uint64(1)
	for range info.Chunks {
		m, err := st.GetMsg(ctx, next, jetstream.WithGetMsgSubject(chunks))
		if err != nil {
			return nil, b.Len(), fmt.Errorf("snapshot of %s: chunk: %w", province, err)
		}
		if len(m.Data) == 0 {
			return nil, b.Len(), c.malformedSnapshot("snapshot of %s has an empty chunk", province)
		}
		if uint64(b.Len()+len(m.Data)) > info.Size {
			return nil, b.Len() + len(m.Data), c.malformedSnapshot("snapshot of %s: its chunks exceed its size of %d bytes", province, info.Size)
		}
		b.Write(m.Data)
		h.Write(m.Data)
		next = m.Sequence + 1
	}
	if uint64(b.Len()) != info.Size {
		return nil, b.Len(), c.malformedSnapshot("snapshot of %s: its chunks hold %d of its %d bytes", province, b.Len(), info.Size)
	}
	if got := "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil)); got != info.Digest {
		return nil, b.Len(), c.malformedSnapshot("snapshot of %s: its chunks do not have the digest its metadata names", province)
	}
	c.stats.snapFetched.Add(1)
	return b.Bytes(), b.Len(), nil
}

// malformedSnapshot counts a snapshot object refused as malformed and
// returns an error wrapping ErrMalformed that says why.
func (c *Conn) malformedSnapshot(format string, args ...any) error {
	c.stats.snapMalformed.Add(1)
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// checkSnapshotChunks refuses a snapshot object's metadata that claims
// more chunks than size bytes fill at snapshotObjectChunkLen bytes each,
// give or take snapshotChunkSlack (which would make a reader fetch chunks
// of a few bytes, or of none), or no chunk for a non-empty object.
func checkSnapshotChunks(size uint64, chunks uint32) error {
	most := (size+snapshotObjectChunkLen-1)/snapshotObjectChunkLen + snapshotChunkSlack
	if uint64(chunks) > most {
		return fmt.Errorf("its metadata claims %d chunks for %d bytes, at most %d", chunks, size, most)
	}
	if size > 0 && chunks == 0 {
		return fmt.Errorf("its metadata claims no chunk for %d bytes", size)
	}
	return nil
}
