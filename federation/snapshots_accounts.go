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

// In accounts mode snapshots are not copied into every account (a copy
// of every province's 100 MB snapshot in 35 accounts, and replaced chunks
// that purges in the source would not remove from the copies). A node
// reads another province's snapshot from that province's own bucket with
// JetStream direct gets, through the read-only imports GenerateServerConfig
// writes ($JS.<province>.API.DIRECT.GET.OBJ_hcfed_<fed>_snap_<province>):
// no consumer is created in the other account, so readers cannot use up
// its quota, and nothing there can be written.

// getSnapshotDirect is GetSnapshot in accounts mode.
func (c *Conn) getSnapshotDirect(ctx context.Context, province string) ([]byte, error) {
	js := c.js
	if province != c.iso.owner {
		var err error
		if js, err = jetstream.NewWithAPIPrefix(c.nc, apiPrefix(province)); err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", province, err)
		}
	}
	bucket := ownSnapshotBucketName(c.fed, province)
	st, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: bucket %s: %w", province, bucket, err)
	}
	meta, err := st.GetLastMsgForSubject(ctx, "$O."+bucket+".M."+base64.URLEncoding.EncodeToString([]byte(province)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: snapshot of %s", ErrNotFound, province)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", province, err)
	}
	if len(meta.Data) > maxPointerLen*16 {
		return nil, fmt.Errorf("%w: snapshot metadata of %s is %d bytes", ErrTooLarge, province, len(meta.Data))
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(meta.Data, &info); err != nil {
		return nil, fmt.Errorf("snapshot of %s: metadata: %w", province, err)
	}
	if info.Deleted {
		return nil, fmt.Errorf("%w: snapshot of %s", ErrNotFound, province)
	}
	if info.Size > uint64(c.maxSnap) {
		c.stats.snapOversized.Add(1)
		return nil, fmt.Errorf("%w: snapshot of %s is %d bytes, limit %d", ErrTooLarge, province, info.Size, c.maxSnap)
	}
	chunks := "$O." + bucket + ".C." + info.NUID
	b := bytes.NewBuffer(make([]byte, 0, int(info.Size)))
	h := sha256.New()
	next := uint64(1)
	for range info.Chunks {
		m, err := st.GetMsg(ctx, next, jetstream.WithGetMsgSubject(chunks))
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: chunk: %w", province, err)
		}
		if uint64(b.Len()+len(m.Data)) > info.Size {
			return nil, fmt.Errorf("snapshot of %s: chunks exceed the size of %d bytes", province, info.Size)
		}
		b.Write(m.Data)
		h.Write(m.Data)
		next = m.Sequence + 1
	}
	if uint64(b.Len()) != info.Size {
		return nil, fmt.Errorf("snapshot of %s: %d of %d bytes read", province, b.Len(), info.Size)
	}
	if got := "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil)); got != info.Digest {
		return nil, fmt.Errorf("snapshot of %s: digest mismatch", province)
	}
	c.stats.snapFetched.Add(1)
	return b.Bytes(), nil
}
