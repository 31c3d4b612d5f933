package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A revocation snapshot holds every live revocation of a province: a small
// signed manifest followed by binary chunks of 20 bytes an entry, whose
// SHA-256 the manifest names (trust/revsnapshot.go), so 100 MB for
// 5,000,000 entries, far over NATS's max_payload. It is kept in a
// JetStream object store bucket, hcfed_<fed>_snap, as the one object named
// by the province id (the server's permissions let a province write only
// that object's metadata); JetStream splits it into chunks of its own (snapshots_read.go). The province's revsnapshot key in the state
// bucket then holds only a small pointer, {seq, size, digest}, so that
// every watcher learns a new snapshot exists without downloading it, and
// fetches it only when it needs it (catch-up, a gap in seq).

// snapshotPointer is the value of a province's revsnapshot key. Like every
// value read from NATS it is untrusted: a reader uses its seq only to
// decide whether a download is worth it, and verifies what it downloads.
type snapshotPointer struct {
	Seq    uint64 `json:"seq"`
	Size   uint64 `json:"size"`
	Digest string `json:"digest"`
}

// parsePointer reads a revsnapshot value.
func parsePointer(b []byte) (snapshotPointer, error) {
	var p snapshotPointer
	if len(b) > maxPointerLen {
		return p, fmt.Errorf("%w: snapshot pointer is %d bytes", ErrTooLarge, len(b))
	}
	// A key given twice, mis-cased or unknown is refused (as in a signed
	// statement), not collapsed or ignored by encoding/json.
	if err := trust.DecodeJSON(b, &p); err != nil {
		return p, fmt.Errorf("snapshot pointer: %w", err)
	}
	return p, nil
}

// PutSnapshot stores province's signed revocation snapshot, the
// concatenation of parts (a bundle, or its manifest line and its chunks,
// so that a publisher need not copy them into one slice), as the
// province's object in the snapshot bucket, replacing the previous one,
// and then points the province's revsnapshot key at it so that watchers
// learn of it. It must start with a compact JWS whose payload has a
// "seq"; it is not verified here. A connection that speaks for a province
// may only store that province's snapshot.
func (c *Conn) PutSnapshot(ctx context.Context, province string, parts ...[]byte) error {
	t := Topic{Kind: KindRevSnapshot, Province: province}
	key, err := t.Key()
	if err != nil {
		return err
	}
	if err := c.mayPublish(t); err != nil {
		return err
	}
	size := 0
	readers := make([]io.Reader, len(parts))
	for i, p := range parts {
		size += len(p)
		readers[i] = bytes.NewReader(p)
	}
	if size > c.maxSnap {
		return fmt.Errorf("%w: snapshot of %s is %d bytes, limit %d", ErrTooLarge, province, size, c.maxSnap)
	}
	if len(parts) == 0 {
		return fmt.Errorf("snapshot of %s: %w", province, errNotCompact)
	}
	claims, err := peekClaims(parts[0])
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", province, err)
	}
	obs, err := c.writeSnapshotHandle(ctx)
	if err != nil {
		return err
	}
	gctx, done := c.guard(ctx, c.isSnapshotSubject)
	meta := jetstream.ObjectMeta{Name: province, Opts: &jetstream.ObjectMetaOptions{ChunkSize: snapshotObjectChunkLen}}
	info, err := obs.Put(gctx, meta, fullReader{io.MultiReader(readers...)})
	err = explain(gctx, err)
	done()
	if err != nil {
		return fmt.Errorf("put snapshot of %s: %w", province, err)
	}
	ptr, err := json.Marshal(snapshotPointer{Seq: claims.Seq, Size: info.Size, Digest: info.Digest})
	if err != nil {
		return err
	}
	if _, err := c.PutState(ctx, key, ptr); err != nil {
		return fmt.Errorf("snapshot of %s stored, pointer not: %w", province, err)
	}
	return nil
}

// GetSnapshot returns province's latest snapshot as stored, unverified,
// or an error wrapping ErrNotFound if there is none. A snapshot over the
// connection's MaxSnapshotLen (ErrTooLarge), or whose metadata claims
// more chunks than its size needs (ErrMalformed), is refused, and
// counted, before any chunk is downloaded; one whose chunks do not match
// its metadata's size or digest is refused (ErrMalformed), and counted,
// once downloaded.
func (c *Conn) GetSnapshot(ctx context.Context, province string) ([]byte, error) {
	raw, _, err := c.fetchSnapshot(ctx, province)
	return raw, err
}

// fetchSnapshot is GetSnapshot, also returning how many bytes it
// downloaded, whether or not it then failed.
func (c *Conn) fetchSnapshot(ctx context.Context, province string) ([]byte, int, error) {
	if err := ValidateProvince(province); err != nil {
		return nil, 0, err
	}
	js, bucket, err := c.snapshotSource(province)
	if err != nil {
		return nil, 0, err
	}
	return c.readSnapshot(ctx, js, bucket, province)
}

// snapshotHandle returns the snapshot bucket, looking it up on first use.
func (c *Conn) snapshotHandle(ctx context.Context) (jetstream.ObjectStore, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.obs != nil {
		return c.obs, nil
	}
	obs, err := c.js.ObjectStore(ctx, c.snapBucket)
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("snapshot bucket %s: %w (has EnsureStreams run?)", c.snapBucket, err)
		}
		return nil, fmt.Errorf("snapshot bucket %s: %w", c.snapBucket, err)
	}
	c.obs = obs
	return obs, nil
}

// isSnapshotSubject matches the subjects a snapshot put publishes to.
func (c *Conn) isSnapshotSubject(s string) bool {
	b := c.writeSnapBucket()
	return len(s) > len(b)+4 && s[:4+len(b)] == "$O."+b+"." ||
		s == "$JS.API.STREAM.PURGE.OBJ_"+b
}

// snapshotRequest is the body of a request for a fresh snapshot: who asks
// and the seq it needs covered. The home node may ignore both.
type snapshotRequest struct {
	From string `json:"from"`
	Need uint64 `json:"need"`
}

// RequestSnapshot asks home's node to publish a fresh revocation
// snapshot covering at least seq need. It returns once the home node has
// acknowledged the request (not once it has published), and an error
// wrapping nats.ErrNoResponders if no node of home is listening. The
// request is sent under this connection's own province name.
func (c *Conn) RequestSnapshot(ctx context.Context, home string, need uint64) error {
	if c.province == "" {
		return errors.New("snapshot request: the connection speaks for no province")
	}
	t := Topic{Kind: KindSnapshotRequest, Province: c.province, Peer: home}
	body, err := json.Marshal(snapshotRequest{From: c.province, Need: need})
	if err != nil {
		return err
	}
	if _, err := c.Request(ctx, t, body); err != nil {
		return err
	}
	return nil
}

// ServeSnapshotRequests answers other provinces' requests for a fresh
// snapshot of this connection's province by calling publish, which should
// sign the province's live revocations and PutSnapshot them. Requests are
// acknowledged at once; publish runs on a goroutine owned by c, never
// concurrently, and requests arriving while it runs or within
// minRepublish of its last run (republishIdle times its duration, if
// longer) are coalesced into one more run, so many peers asking at once
// cost one snapshot, and nobody asking can keep it publishing. Requests
// beyond what the subscription holds unacknowledged are dropped and
// counted (services.go). It stops when ctx ends or c is closed.
func (c *Conn) ServeSnapshotRequests(ctx context.Context, publish func(ctx context.Context) error) error {
	if c.province == "" {
		return errors.New("serve snapshot requests: the connection speaks for no province")
	}
	subject := snapshotRequests(c.fed, c.province)
	wanted := make(chan struct{}, 1)
	sub, err := c.subscribeService(ctx, serviceSnapshotRequests, subject, func(m *nats.Msg) {
		if len(m.Data) > maxSnapshotRequestLen {
			c.stats.requestsOversized.Add(1)
			return
		}
		select {
		case wanted <- struct{}{}:
		default: // a run is already due
		}
		if m.Reply != "" {
			if err := m.Respond([]byte(`{"ok":true}`)); err != nil {
				c.log.Warn("snapshot request not acknowledged", "err", err)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("serve snapshot requests: %w", err)
	}
	c.run(ctx, func(ctx context.Context) {
		defer c.stopService(sub)
		for {
			select {
			case <-ctx.Done():
				return
			case <-wanted:
			}
			start := time.Now()
			err := safely(func() error { return publish(ctx) })
			if err != nil && ctx.Err() == nil {
				c.log.Warn("requested snapshot not published", "err", err)
			}
			if !backoff.Wait(ctx, max(minRepublish, republishIdle*time.Since(start))) {
				return
			}
		}
	})
	return nil
}

// fullReader fills every Read from r as far as r goes. The object store
// stores each Read of its source as one chunk, and a MultiReader's read
// ends at each part's end: each part added a short chunk, and readers
// refuse metadata claiming more chunks than the size needs.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
