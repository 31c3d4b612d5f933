package federation

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// isolation is what a connection in accounts mode needs to know.
type isolation struct {
	owner     string   // this connection's province, or operatorTag
	members   []string // sorted; nil if not configured
	ownBucket string   // own state bucket
	ownStream string   // own revocation stream ("" for the operators)
	ownSnap   string   // own snapshot bucket ("" for the operators)
}

// newIsolation reads cfg.Isolation; nil means the single-account mode.
func newIsolation(cfg ConnConfig) (*isolation, error) {
	switch cfg.Isolation {
	case "":
		return nil, nil
	case IsolationAccounts:
	default:
		return nil, fmt.Errorf("%w: unknown nats isolation %q (want %q or none)", ErrInvalidName, cfg.Isolation, IsolationAccounts)
	}
	iso := &isolation{owner: cmp.Or(cfg.Province, operatorTag)}
	if len(cfg.Members) > 0 {
		m, err := checkMembers(cfg.Federation, cfg.Members)
		if err != nil {
			return nil, err
		}
		iso.members = m
	}
	iso.ownBucket = ownBucketName(cfg.Federation, iso.owner)
	if cfg.Province != "" {
		iso.ownStream = ownStreamName(cfg.Federation, cfg.Province)
		iso.ownSnap = ownSnapshotBucketName(cfg.Federation, cfg.Province)
	}
	return iso, nil
}

// Isolation is "" or IsolationAccounts, as configured.
func (c *Conn) Isolation() string {
	if c.iso == nil {
		return ""
	}
	return IsolationAccounts
}

// writeBucket is the name of the bucket this connection writes its state
// to: the shared bucket, or its own in accounts mode.
func (c *Conn) writeBucket() string {
	if c.iso != nil {
		return c.iso.ownBucket
	}
	return c.bucket
}

// writeStream is the stream this connection's revocations are captured
// by: the shared stream, or its own in accounts mode.
func (c *Conn) writeStream() string {
	if c.iso != nil && c.iso.ownStream != "" {
		return c.iso.ownStream
	}
	return c.stream
}

// writeSnapBucket is the bucket this connection's snapshot is put in.
func (c *Conn) writeSnapBucket() string {
	if c.iso != nil && c.iso.ownSnap != "" {
		return c.iso.ownSnap
	}
	return c.snapBucket
}

// writeBucketHandle is bucketHandle for the bucket writes go to.
func (c *Conn) writeBucketHandle(ctx context.Context) (jetstream.KeyValue, error) {
	if c.iso == nil {
		return c.bucketHandle(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ownKV != nil {
		return c.ownKV, nil
	}
	kv, err := c.js.KeyValue(ctx, c.iso.ownBucket)
	if err != nil {
		return nil, fmt.Errorf("own state bucket %s: %w (has EnsureStreams run for this account?)", c.iso.ownBucket, err)
	}
	c.ownKV = kv
	return kv, nil
}

// writeSnapshotHandle is snapshotHandle for the bucket puts go to.
func (c *Conn) writeSnapshotHandle(ctx context.Context) (jetstream.ObjectStore, error) {
	if c.iso == nil {
		return c.snapshotHandle(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ownObs != nil {
		return c.ownObs, nil
	}
	obs, err := c.js.ObjectStore(ctx, c.writeSnapBucket())
	if err != nil {
		return nil, fmt.Errorf("own snapshot bucket %s: %w (has EnsureStreams run for this account?)", c.writeSnapBucket(), err)
	}
	c.ownObs = obs
	return obs, nil
}

// accountAssets are the JetStream streams EnsureStreams looks after in
// accounts mode: the own assets, then the aggregates sourced from every
// member (and the operators), computed from the member list.
func (c *Conn) accountAssets(revOnly bool) ([]asset, error) {
	iso := c.iso
	if iso.members == nil {
		return c.existingAssets(revOnly), nil
	}
	province := iso.owner != operatorTag
	var out []asset
	if province {
		out = append(out, c.streamAsset(c.ownRevConfig()), c.streamAsset(c.aggRevConfig()))
		if revOnly {
			return out, nil
		}
		out = append(out, c.objAsset(jetstream.ObjectStoreConfig{
			Bucket: iso.ownSnap, Description: "HCFed " + c.fed + ": the latest signed revocation snapshot of " + iso.owner,
			MaxBytes: ownSnapshotMaxBytes, Storage: jetstream.FileStorage, Replicas: c.replicas,
		}))
	}
	own := c.bucketConfig()
	own.Bucket, own.MaxBytes = iso.ownBucket, ownBucketMaxBytes
	own.Description = "HCFed " + c.fed + ": the latest signed statements of " + iso.owner
	agg := c.bucketConfig()
	agg.MaxBytes = int64(len(iso.members)+1) * ownBucketMaxBytes
	for _, o := range append([]string{operatorTag}, iso.members...) {
		agg.Sources = append(agg.Sources, c.kvSource(o))
	}
	out = append(out, c.kvAsset(own), c.streamAsset(aggregateKV(agg)))
	return out, nil
}

// aggregateKV is the stream of a KV bucket filled only by its sources:
// as jetstream.CreateKeyValue would make it, but capturing no subjects,
// so that nothing published in the account (a JetStream ack sent to a
// reply subject its user names, say) can land in it.
func aggregateKV(kv jetstream.KeyValueConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: "KV_" + kv.Bucket, Description: kv.Description, MaxMsgsPerSubject: int64(kv.History),
		MaxBytes: kv.MaxBytes, MaxMsgSize: kv.MaxValueSize, Storage: kv.Storage, Replicas: kv.Replicas,
		AllowRollup: true, DenyDelete: true, AllowDirect: true, Discard: jetstream.DiscardNew,
		MaxMsgs: -1, MaxConsumers: -1, Sources: kv.Sources,
	}
}

// isOwnAsset tells the own assets from the aggregates.
func (c *Conn) isOwnAsset(a asset) bool {
	return c.iso != nil && (a.stream == c.iso.ownStream || a.stream == "KV_"+c.iso.ownBucket || a.stream == "OBJ_"+c.iso.ownSnap)
}

// ensureOwnAssets is EnsureStreams for the own assets only: SetupAccounts
// creates every account's own assets first, so that each aggregate finds
// its sources when it is created (the server retries a missing source
// only after a backoff).
func (c *Conn) ensureOwnAssets(ctx context.Context) error {
	all, err := c.accountAssets(false)
	if err != nil {
		return err
	}
	var own []asset
	for _, a := range all {
		if c.isOwnAsset(a) {
			own = append(own, a)
		}
	}
	return c.ensureAll(ctx, own...)
}

// existingAssets only check that this account's assets exist: what a
// node does, whose user may not create them (its account's admin does,
// with the member list; see SetupAccounts).
func (c *Conn) existingAssets(revOnly bool) []asset {
	names := []string{c.stream}
	if c.iso.ownStream != "" {
		names = append(names, c.iso.ownStream)
	}
	if !revOnly {
		names = append(names, "KV_"+c.bucket, "KV_"+c.iso.ownBucket)
		if c.iso.ownSnap != "" {
			names = append(names, "OBJ_"+c.iso.ownSnap)
		}
	}
	if c.iso.owner == operatorTag {
		names = names[1:] // the operators' account has no revocation stream
		if revOnly {
			return nil
		}
	}
	out := make([]asset, len(names))
	for i, n := range names {
		missing := func(context.Context) error {
			return fmt.Errorf("%w: %s is missing and only the account's admin creates it (hcnode nats-setup)", ErrPermissionDenied, n)
		}
		out[i] = asset{stream: n, drift: func(jetstream.StreamConfig) []string { return nil }, create: missing, update: missing}
	}
	return out
}

// kvSource sources owner's own bucket into the aggregate, one subject
// transform per key owner may write: nothing else of its bucket is copied.
func (c *Conn) kvSource(owner string) *jetstream.StreamSource {
	src := ownBucketName(c.fed, owner)
	s := &jetstream.StreamSource{Name: "KV_" + src, External: c.external(owner)}
	for _, k := range ownKeys(owner, c.iso.members) {
		s.SubjectTransforms = append(s.SubjectTransforms, jetstream.SubjectTransformConfig{
			Source: "$KV." + src + "." + k, Destination: "$KV." + c.bucket + "." + k})
	}
	return s
}

// external is how this account reaches owner's account, nil for itself.
func (c *Conn) external(owner string) *jetstream.ExternalStream {
	if owner == c.iso.owner {
		return nil
	}
	return &jetstream.ExternalStream{APIPrefix: apiPrefix(owner), DeliverPrefix: deliverPrefix(owner, c.iso.owner)}
}

func (c *Conn) ownRevConfig() jetstream.StreamConfig {
	cfg := c.streamConfig()
	cfg.Name, cfg.MaxBytes = c.iso.ownStream, ownStreamMaxBytes
	subj, _ := Topic{Kind: KindRevocations, Province: c.iso.owner}.Subject(c.fed)
	cfg.Subjects = []string{subj}
	cfg.Description = "HCFed " + c.fed + ": revocation deltas of " + c.iso.owner
	return cfg
}

func (c *Conn) aggRevConfig() jetstream.StreamConfig {
	cfg := c.streamConfig()
	cfg.Subjects = nil
	cfg.Duplicates = 0
	cfg.MaxBytes = int64(len(c.iso.members)) * ownStreamMaxBytes
	for _, m := range c.iso.members {
		subj, _ := Topic{Kind: KindRevocations, Province: m}.Subject(c.fed)
		cfg.Sources = append(cfg.Sources, &jetstream.StreamSource{
			Name: ownStreamName(c.fed, m), FilterSubject: subj, External: c.external(m)})
	}
	return cfg
}

func (c *Conn) streamAsset(want jetstream.StreamConfig) asset {
	return asset{
		stream: want.Name,
		drift:  func(have jetstream.StreamConfig) []string { return accountDrift(have, want) },
		create: func(ctx context.Context) error { _, err := c.js.CreateStream(ctx, want); return err },
		update: func(ctx context.Context) error { _, err := c.js.UpdateStream(ctx, want); return err },
	}
}

func (c *Conn) kvAsset(want jetstream.KeyValueConfig) asset {
	return asset{
		stream: "KV_" + want.Bucket,
		drift: func(have jetstream.StreamConfig) []string {
			return accountDrift(have, jetstream.StreamConfig{MaxBytes: want.MaxBytes, MaxMsgsPerSubject: int64(want.History),
				Replicas: want.Replicas, Sources: want.Sources, Discard: jetstream.DiscardNew})
		},
		create: func(ctx context.Context) error { _, err := c.js.CreateKeyValue(ctx, want); return err },
		update: func(ctx context.Context) error { _, err := c.js.UpdateKeyValue(ctx, want); return err },
	}
}

func (c *Conn) objAsset(want jetstream.ObjectStoreConfig) asset {
	return asset{
		stream: "OBJ_" + want.Bucket,
		drift: func(have jetstream.StreamConfig) []string {
			return accountDrift(have, jetstream.StreamConfig{MaxBytes: want.MaxBytes, Replicas: want.Replicas, Discard: jetstream.DiscardNew})
		},
		create: func(ctx context.Context) error { _, err := c.js.CreateObjectStore(ctx, want); return err },
		update: func(ctx context.Context) error { _, err := c.js.UpdateObjectStore(ctx, want); return err },
	}
}

// accountDrift compares what accounts mode sets: bounds, replicas and
// sources.
func accountDrift(have, want jetstream.StreamConfig) []string {
	var d drift
	d.check("max_bytes", have.MaxBytes == want.MaxBytes)
	d.check("replicas", have.Replicas == max(want.Replicas, 1))
	d.check("discard", have.Discard == want.Discard)
	if want.MaxMsgsPerSubject != 0 {
		d.check("history", have.MaxMsgsPerSubject == want.MaxMsgsPerSubject)
	}
	if want.Subjects != nil {
		d.check("subjects", slices.Equal(have.Subjects, want.Subjects))
	}
	d.check("sources", sameSources(have.Sources, want.Sources))
	return d
}

func sameSources(have, want []*jetstream.StreamSource) bool {
	return slices.EqualFunc(have, want, func(a, b *jetstream.StreamSource) bool {
		if a.Name != b.Name || a.FilterSubject != b.FilterSubject || (a.External == nil) != (b.External == nil) {
			return false
		}
		if a.External != nil && (a.External.APIPrefix != b.External.APIPrefix || a.External.DeliverPrefix != b.External.DeliverPrefix) {
			return false
		}
		return slices.Equal(a.SubjectTransforms, b.SubjectTransforms)
	})
}
