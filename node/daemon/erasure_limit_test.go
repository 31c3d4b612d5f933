package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/backoff"
	"github.com/hcfed/hcfed/node/daemon"
)

// A province sending receipts at (and past) their rate limit does not
// hold back its erasures: they have a limit of their own. With one
// shared limit, Shanghai dropped Guangdong's erasure unopened while
// Guangdong's receipts had used it up, and Guangdong waited out the
// acknowledgement timeout and its backoff before trying again.
func TestErasureIsNotHeldBackByItsProvincesReceiptsAtTheirLimit(t *testing.T) {
	// An erasure dropped unacknowledged would be tried again only after a
	// minute: long past the wait below.
	f := startErasureFedWith(t, daemon.ClusterConfig{ErasureRetry: backoff.Policy{Min: time.Minute, Max: time.Minute},
		ErasureAckTimeout: 2 * time.Second})
	gdConn := provinceConn(t, f.lookupFed, "440000")
	ctx, cancel := context.WithCancel(context.Background())
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		tick := time.NewTicker(5 * time.Millisecond) // 200 a second, far past the receipts' limit
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = gdConn.PublishReceipts(ctx, "310000", []byte("not a receipt: it only spends Guangdong's receipt allowance"))
			}
		}
	}()
	defer func() { cancel(); <-flooded }()
	// Let the flood spend the receipts' burst (20) first: each of these
	// was let through by the limit, and refused as no receipt.
	waitFor(t, "Guangdong's receipts spending their allowance at Shanghai", func() error {
		if v := metricValue(t, f.c.Nodes[sh], `hcfed_receipts_total{event="refused"}`); v < 25 {
			return fmt.Errorf("%v refused", v)
		}
		return nil
	})

	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	f.requireShanghaiErased()
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="failed"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="failed"} = %v, want 0: the erasure was not acknowledged at once`, v)
	}
}
