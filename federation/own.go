package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ownFetchWait bounds how long OwnRevocations waits for one batch of the
// stream's messages.
const ownFetchWait = 2 * time.Second

// OwnRevocations returns every revocation statement of this connection's
// province that the stream still holds, oldest first, as published.
//
// A node whose database was restored from a backup uses it to take back
// the revocations it published after the backup was taken: they are in
// peers' revocation sets, so the node must hold them too, and must never
// use their sequence numbers again. The statements are the stream's
// bytes, unverified: the caller verifies each before it adopts it.
func (c *Conn) OwnRevocations(ctx context.Context) ([][]byte, error) {
	subj, err := Topic{Kind: KindRevocations, Province: c.province}.Subject(c.fed)
	if err != nil {
		return nil, err
	}
	cons, err := c.js.OrderedConsumer(ctx, c.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverAllPolicy, MaxResetAttempts: 1})
	if err != nil {
		return nil, fmt.Errorf("own revocations on %s: %w", c.stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("own revocations on %s: %w", c.stream, err)
	}
	var out [][]byte
	for read := uint64(0); read < info.NumPending; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(ownFetchWait))
		if err != nil {
			return nil, fmt.Errorf("own revocations on %s: %w", c.stream, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			if len(msg.Data()) > c.maxRev {
				continue // no node of ours wrote it; dropped like any oversized delta
			}
			out = append(out, msg.Data())
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("own revocations on %s: %w", c.stream, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("own revocations on %s: %d of %d messages read, then none", c.stream, read, info.NumPending)
		}
		read += uint64(n)
	}
	return out, nil
}
