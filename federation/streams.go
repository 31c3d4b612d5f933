package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureStreams creates the federation's state bucket, revocation stream
// and snapshot bucket if they are missing, and updates them if their configuration has
// drifted from what this package expects. It only writes when something
// is missing or different, so once an operator has created them a
// province whose permissions allow no stream administration can call it
// too. Several nodes may call it at once: creating an identical stream
// twice is a no-op on the server, and a lost race is re-read and compared
// again.
func (c *Conn) EnsureStreams(ctx context.Context) error {
	if c.iso != nil {
		assets, err := c.accountAssets(false)
		if err != nil {
			return err
		}
		return c.ensureAll(ctx, assets...)
	}
	kv, rev, snap := c.assets()
	return c.ensureAll(ctx, kv, rev, snap)
}

// EnsureRevocationStream is EnsureStreams for the revocation stream only:
// what a node's outbox calls when the stream has gone, so that drift in
// another asset this node may not repair cannot keep it from recreating
// the one it needs.
func (c *Conn) EnsureRevocationStream(ctx context.Context) error {
	if c.iso != nil {
		assets, err := c.accountAssets(true)
		if err != nil {
			return err
		}
		return c.ensureAll(ctx, assets...)
	}
	_, rev, _ := c.assets()
	return c.ensureAll(ctx, rev)
}

// HasRevocationStream reports whether the revocation stream exists.
func (c *Conn) HasRevocationStream(ctx context.Context) (bool, error) {
	_, err := c.js.Stream(ctx, c.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("revocation stream %s: %w", c.stream, err)
	}
	return true, nil
}

func (c *Conn) ensureAll(ctx context.Context, assets ...asset) error {
	ctx, done := c.guard(ctx, c.isAPISubject)
	defer done()
	for _, a := range assets {
		if err := c.ensure(ctx, a); err != nil {
			return explain(ctx, fmt.Errorf("ensure %s: %w", a.stream, err))
		}
	}
	return nil
}

// assets are the three JetStream streams EnsureStreams looks after.
func (c *Conn) assets() (kv, rev, snap asset) {
	kv = asset{
		stream: "KV_" + c.bucket,
		drift:  c.bucketDrift,
		create: func(ctx context.Context) error {
			_, err := c.js.CreateKeyValue(ctx, c.bucketConfig())
			return err
		},
		update: func(ctx context.Context) error {
			_, err := c.js.UpdateKeyValue(ctx, c.bucketConfig())
			return err
		},
	}
	rev = asset{
		stream: c.stream,
		drift:  c.streamDrift,
		create: func(ctx context.Context) error {
			_, err := c.js.CreateStream(ctx, c.streamConfig())
			return err
		},
		update: func(ctx context.Context) error {
			_, err := c.js.UpdateStream(ctx, c.streamConfig())
			return err
		},
	}
	snap = asset{
		stream: "OBJ_" + c.snapBucket,
		drift:  c.snapshotBucketDrift,
		create: func(ctx context.Context) error {
			_, err := c.js.CreateObjectStore(ctx, c.snapshotBucketConfig())
			return err
		},
		update: func(ctx context.Context) error {
			_, err := c.js.UpdateObjectStore(ctx, c.snapshotBucketConfig())
			return err
		},
	}
	return kv, rev, snap
}

// asset is a JetStream stream EnsureStreams looks after.
type asset struct {
	stream string
	drift  func(have jetstream.StreamConfig) []string // names of differing fields
	create func(ctx context.Context) error
	update func(ctx context.Context) error
}

func (c *Conn) ensure(ctx context.Context, a asset) error {
	for range 3 {
		s, err := c.js.Stream(ctx, a.stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			err = a.create(ctx)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) {
				continue // created meanwhile with another configuration: compare
			}
			if err == nil {
				c.log.Info("jetstream stream created", "stream", a.stream)
			}
			return err
		}
		if err != nil {
			return err
		}
		diff := a.drift(s.CachedInfo().Config)
		if len(diff) == 0 {
			return nil
		}
		c.log.Info("jetstream stream configuration drifted, updating", "stream", a.stream, "fields", diff)
		return a.update(ctx)
	}
	return errors.New("created concurrently with a different configuration")
}

// isAPISubject matches the JetStream API subjects EnsureStreams uses.
func (c *Conn) isAPISubject(s string) bool {
	if s == "$JS.API.INFO" {
		return true
	}
	if c.iso != nil {
		return strings.HasPrefix(s, "$JS.API.STREAM.")
	}
	return strings.HasPrefix(s, "$JS.API.STREAM.") &&
		(strings.HasSuffix(s, ".KV_"+c.bucket) || strings.HasSuffix(s, "."+c.stream) ||
			strings.HasSuffix(s, ".OBJ_"+c.snapBucket))
}

func (c *Conn) bucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       c.bucket,
		Description:  "HCFed " + c.fed + ": latest signed statements (trust list, keysets, content keys, snapshots, heartbeats)",
		History:      bucketHistory,
		MaxValueSize: bucketMaxValueSize,
		MaxBytes:     bucketMaxBytes,
		Storage:      jetstream.FileStorage,
		Replicas:     c.replicas,
	}
}

func (c *Conn) bucketDrift(have jetstream.StreamConfig) []string {
	var d drift
	check := d.check
	check("history", have.MaxMsgsPerSubject == bucketHistory)
	check("max_value_size", have.MaxMsgSize == bucketMaxValueSize)
	check("max_bytes", have.MaxBytes == bucketMaxBytes)
	check("storage", have.Storage == jetstream.FileStorage)
	check("replicas", have.Replicas == c.replicas)
	check("ttl", have.MaxAge == 0)
	return d
}

func (c *Conn) snapshotBucketConfig() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      c.snapBucket,
		Description: "HCFed " + c.fed + ": the latest signed revocation snapshot of each province, by province id",
		MaxBytes:    snapshotBucketMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    c.replicas,
	}
}

func (c *Conn) snapshotBucketDrift(have jetstream.StreamConfig) []string {
	var d drift
	check := d.check
	check("max_bytes", have.MaxBytes == snapshotBucketMaxBytes)
	check("storage", have.Storage == jetstream.FileStorage)
	check("replicas", have.Replicas == c.replicas)
	check("ttl", have.MaxAge == 0)
	return d
}

func (c *Conn) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.stream,
		Description: "HCFed " + c.fed + ": revocation deltas of every province",
		Subjects:    []string{revocationSubjects(c.fed)},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    c.replicas,
		MaxAge:      streamMaxAge,
		MaxBytes:    streamMaxBytes,
		MaxMsgs:     -1,
		MaxMsgSize:  streamMaxMsgSize,
		Discard:     jetstream.DiscardOld,
		Duplicates:  streamDuplicates,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

func (c *Conn) streamDrift(have jetstream.StreamConfig) []string {
	want := c.streamConfig()
	var d drift
	check := d.check
	check("subjects", slices.Equal(have.Subjects, want.Subjects))
	check("retention", have.Retention == want.Retention)
	check("storage", have.Storage == want.Storage)
	check("replicas", have.Replicas == want.Replicas)
	check("max_age", have.MaxAge == want.MaxAge)
	check("max_bytes", have.MaxBytes == want.MaxBytes)
	check("max_msg_size", have.MaxMsgSize == want.MaxMsgSize)
	check("discard", have.Discard == want.Discard)
	check("duplicates", have.Duplicates == want.Duplicates)
	check("deny_delete", have.DenyDelete == want.DenyDelete)
	check("deny_purge", have.DenyPurge == want.DenyPurge)
	return d
}

// drift collects the names of configuration fields that differ.
type drift []string

func (d *drift) check(name string, same bool) {
	if !same {
		*d = append(*d, name)
	}
}
