package federation

import (
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

// snapshotSource returns the JetStream context and the bucket that hold
// province's snapshot: the shared bucket, or in accounts mode the
// province's own bucket, reached through its API prefix.
func (c *Conn) snapshotSource(province string) (jetstream.JetStream, string, error) {
	if c.iso == nil {
		return c.js, c.snapBucket, nil
	}
	if province == c.iso.owner {
		return c.js, ownSnapshotBucketName(c.fed, province), nil
	}
	js, err := jetstream.NewWithAPIPrefix(c.nc, apiPrefix(province))
	if err != nil {
		return nil, "", fmt.Errorf("snapshot of %s: %w", province, err)
	}
	return js, ownSnapshotBucketName(c.fed, province), nil
}
