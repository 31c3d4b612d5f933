package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hcfed/hcfed/trust"
)

// NewestTrustList returns the trust list of the highest version this
// connection can read, for a publisher deciding whether, and what, to
// publish next. GetState reads the shared bucket, which in accounts mode
// the server fills from the operators' own bucket a moment after PutState
// wrote there: a publisher that read only the shared bucket would take a
// list it had just published for one not yet published, and publish it
// again, or accept as next a version lower than the one it had just
// published. So a connection that may write the trust list also reads its
// own bucket, and the higher version of the two wins (its own copy on a
// tie: it is written first). The shared bucket still counts, for a list
// written from another account.
//
// The lists are parsed, not verified: the caller checks the next list
// against the one returned with trust.AcceptTrustList. An error wraps
// ErrNotFound if neither bucket holds a trust list, and wraps a *trust.Error
// (trust.ReasonOf) if one holds a document that does not parse.
func (c *Conn) NewestTrustList(ctx context.Context) (*trust.ParsedTrustList, error) {
	buckets := []func(context.Context) (jetstream.KeyValue, error){c.bucketHandle}
	if c.iso != nil && c.mayPublish(Topic{Kind: KindTrustList}) == nil {
		buckets = append(buckets, c.writeBucketHandle) // last: it wins a tie
	}
	var newest *trust.ParsedTrustList
	for _, bucket := range buckets {
		kv, err := bucket(ctx)
		if err != nil {
			return nil, err
		}
		tl, err := c.readTrustList(ctx, kv)
		if err != nil {
			return nil, err
		}
		if tl != nil && (newest == nil || tl.Version >= newest.Version) {
			newest = tl
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, KindTrustList)
	}
	return newest, nil
}

// readTrustList parses the trust list bucket kv holds; nil if it holds
// none.
func (c *Conn) readTrustList(ctx context.Context, kv jetstream.KeyValue) (*trust.ParsedTrustList, error) {
	raw, _, err := c.getState(ctx, kv, string(KindTrustList))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tl, err := trust.ParseTrustList(raw)
	if err != nil {
		return nil, fmt.Errorf("in bucket %s: %w", kv.Bucket(), err)
	}
	return tl, nil
}
