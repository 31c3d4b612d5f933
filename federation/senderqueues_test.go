package federation

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
)

// senderQueues takes each sender's requests in turn, and past its limits
// drops from the sender that holds the most: a sender holding less than
// every other keeps its requests, whoever floods.
func TestSenderQueuesTakeTurnsAndDropFromTheLargest(t *testing.T) {
	msg := func(label string, size int) *nats.Msg { return &nats.Msg{Subject: label, Data: make([]byte, size)} }
	push := func(q *senderQueues, from string, size int, wantDropped int, wantOf string) {
		t.Helper()
		if n, of := q.push(from, msg(from, size)); n != wantDropped || of != wantOf {
			t.Fatalf("push of %d bytes from %s dropped %d of %q, want %d of %q", size, from, n, of, wantDropped, wantOf)
		}
	}

	// Each sender in turn, its own in order.
	q := newSenderQueues(10, 1000, 100, 10000)
	for i, from := range []string{"a", "a", "a", "b", "c", "b"} {
		q.push(from, msg(fmt.Sprint(from, i), 1))
	}
	var order []string
	for {
		_, m, ok := q.pop()
		if !ok {
			break
		}
		order = append(order, m.Subject)
	}
	if got := fmt.Sprint(order); got != "[a0 b3 c4 a1 b5 a2]" {
		t.Fatalf("taken in order %s, want each sender in turn", got)
	}

	// By count: 3 a sender, 5 in all.
	q = newSenderQueues(3, 1000, 5, 10000)
	push(q, "a", 1, 0, "")
	push(q, "a", 1, 0, "")
	push(q, "a", 1, 0, "")
	push(q, "a", 1, 1, "a") // beyond a's own 3
	push(q, "b", 1, 0, "")
	push(q, "c", 1, 0, "")
	push(q, "d", 1, 1, "a") // all 5 held: a, holding the most, gives up one
	push(q, "b", 1, 1, "a") // again: a held 2, b 1
	push(q, "b", 1, 1, "b") // b would hold the most: its own is dropped
	if q.msgs != 5 {
		t.Fatalf("%d held, want 5", q.msgs)
	}

	// By bytes: 100 a sender, 150 in all.
	q = newSenderQueues(10, 100, 100, 150)
	push(q, "a", 100, 0, "")
	push(q, "b", 40, 0, "")
	push(q, "c", 20, 1, "a") // 160 bytes: a's only request goes
	push(q, "c", 60, 0, "")
	push(q, "c", 30, 1, "c") // beyond c's own 100
	push(q, "b", 40, 1, "c") // 160 bytes: c, holding 80, gives up its 60
	if q.bytes != 100 || len(q.turns) != 2 || q.queues["a"] != nil {
		t.Fatalf("%d bytes held, turns %v; want 100, b's and c's", q.bytes, q.turns)
	}
}
