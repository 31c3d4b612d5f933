package daemon_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
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

// Anyone able to publish on Shanghai's receipts subject in Guangdong's
// name (a NATS permission left too wide) floods it with messages whose
// envelope says "erasure" and that are none. They are refused, counted
// and logged a few times only, and spend nothing of Guangdong's erasure
// allowance: Guangdong's real erasure is applied at once. When the limit
// was charged before the signature was checked, the flood spent it and
// Shanghai dropped the real erasure unopened, and Guangdong waited out
// its acknowledgement timeout and its backoff.
func TestErasureIsNotHeldBackByForgedErasuresInItsProvincesName(t *testing.T) {
	// An erasure dropped unacknowledged would be tried again only after a
	// minute: long past the wait below.
	f := startErasureFedWith(t, daemon.ClusterConfig{ErasureRetry: backoff.Policy{Min: time.Minute, Max: time.Minute},
		ErasureAckTimeout: 2 * time.Second})
	forger := provinceConn(t, f.lookupFed, "440000")
	forged := []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"hcfed-erasure+jwe"}`)) + ".not.an.erasure.at.all")
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		tick := time.NewTicker(2 * time.Millisecond) // up to 500 a second, far past the erasures' limit
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if forger.PublishReceipts(ctx, "310000", forged) == nil {
					sent.Add(1)
				}
			}
		}
	}()
	defer func() { cancel(); <-flooded }()
	// Let the flood go past the erasures' burst (100) first.
	const past = 2 * 100
	waitFor(t, "the forger publishing", func() error {
		if n := sent.Load(); n < past {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})

	f.mustCall(gd, "DELETE", "/v1/subjects/"+f.deleted.ID, f.deleted.Token, nil, nil, 204)
	f.requireShanghaiErased()
	if v := metricValue(t, f.c.Nodes[gd], `hcfed_erasures_total{event="failed"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="failed"} = %v, want 0: the erasure was not acknowledged at once`, v)
	}
	if v := metricValue(t, f.c.Nodes[sh], `hcfed_erasures_total{event="limited"}`); v != 0 {
		t.Errorf(`hcfed_erasures_total{event="limited"} = %v at Shanghai, want 0: only forgeries came beside the real one`, v)
	}
	// Each forgery is counted; only a few are logged.
	waitFor(t, "Shanghai refusing the forged erasures", func() error {
		if v := metricValue(t, f.c.Nodes[sh], `hcfed_erasures_total{event="refused"}`); v < past {
			return fmt.Errorf("%v refused", v)
		}
		return nil
	})
	if n := strings.Count(f.logs.String(), "lookup erasure refused"); n < 1 || n > 20 {
		t.Errorf("%d forged erasures logged as refused (of more than %d), want at least one and at most 20", n, past)
	}
}
