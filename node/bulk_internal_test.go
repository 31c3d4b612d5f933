package node

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Bulk batches take turns: while another stream's batch holds the turn,
// a batch with changes neither seals, commits nor publishes (this one's
// residents has no database: going ahead would panic), and gives up when
// its context ends. A batch of refused lines only needs no turn.
func TestBulkBatchesOfManyStreamsTakeTurns(t *testing.T) {
	r := &residents{bulkTurn: make(chan struct{}, 1), clock: clock{time.Now}, metrics: NewMetrics()}
	p := Principal{Role: RoleFeed, Account: "platform", AccountID: "ac_f"}
	b, err := r.bulkStatus(p)
	if err != nil {
		t.Fatal(err)
	}
	b.Add(1, StatusLine{Subject: "s_a", Status: "yellow"})
	r.bulkTurn <- struct{}{} // another stream's batch is committing
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if out, err := b.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) || out != nil {
		t.Fatalf("Flush while another batch holds the turn = %v, %v; want to wait until its context ends", out, err)
	}
	if len(b.pending) != 1 {
		t.Errorf("the waiting batch lost its lines: %d pending, want 1", len(b.pending))
	}
	<-r.bulkTurn

	refused, err := r.bulkStatus(p)
	if err != nil {
		t.Fatal(err)
	}
	refused.Refuse(1, "", Errorf(EInvalid, "bad line"))
	r.bulkTurn <- struct{}{}
	defer func() { <-r.bulkTurn }()
	if out, err := refused.Flush(t.Context()); err != nil || len(out) != 1 || out[0].Result != BulkRefused {
		t.Errorf("a batch of refused lines while the turn is held = %v, %v; want its one refused result", out, err)
	}
}
