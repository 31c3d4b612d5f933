package federation

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go"
)

// Lookups, receipts and erasures name their sender in the subject
// (hcfed.<fed>.<from>.lookup.<own>), and the shipped permissions let a
// member publish only under its own name. Were they handled in the order
// they came from one queue, a member flooding would fill it, and every
// other member's requests would be dropped with its own. So their
// service subscription only sorts each request into its sender's queue
// (senderQueues), and the service's one worker takes the queues in turn,
// the oldest request of each sender with requests waiting, and runs the
// handler on it, one at a time as before. A member that floods fills its
// own queue, and its requests beyond it are dropped; another member's
// request waits for at most one of the flooder's per request of its own
// ahead of it, not for the flood.
//
// A sender's queue holds at most senderPendingMsgs requests and
// senderPendingBytes. All of a service's queues together hold at most
// servicePendingMsgs and servicePendingBytes, as its one queue did: a
// request that would go beyond them drops the newest request of the
// sender holding the most, or is dropped itself if its own sender would
// then hold the most. So a sender holding less than every other loses
// nothing to their floods, however many flood at once, and names forged
// one per request (possible only on a server without the shipped
// permissions) bound nothing but their own share.
//
// The subscription's handler does no more than that sorting, so nats.go's
// own queue of the subscription (services.go) stays near empty; it fills
// only under a flood faster than a goroutine can sort it, and then drops
// without regard to the sender.
const (
	// senderPendingMsgs is how many requests one sender's queue holds:
	// a burst of lookups from one province's case workers.
	senderPendingMsgs = 32
	// senderPendingBytes bounds the bytes they hold: 8 receipts of the
	// largest size (trust.MaxReceiptLen), 64 lookups.
	senderPendingBytes = 1 << 20
)

// senderQueues holds a service's requests by sender until its worker
// takes them, each sender in turn. It is safe for concurrent use.
type senderQueues struct {
	mu     sync.Mutex
	queues map[string]*senderQueue // senders with requests waiting
	turns  []string                // those senders, whose turn comes first first
	msgs   int                     // requests held, in all queues
	bytes  int                     // their bytes
	wake   chan struct{}           // a request was queued

	senderMsgs, senderBytes, totalMsgs, totalBytes int // the limits
}

// senderQueue is one sender's requests, oldest first.
type senderQueue struct {
	msgs  []*nats.Msg
	bytes int
}

// newSenderQueues makes the queues of a service, which hold at most
// senderMsgs requests and senderBytes of each sender, and totalMsgs
// requests and totalBytes in all.
func newSenderQueues(senderMsgs, senderBytes, totalMsgs, totalBytes int) *senderQueues {
	return &senderQueues{queues: map[string]*senderQueue{}, wake: make(chan struct{}, 1),
		senderMsgs: senderMsgs, senderBytes: senderBytes, totalMsgs: totalMsgs, totalBytes: totalBytes}
}

// push queues m from sender from, and returns how many requests it
// dropped to keep within the limits (m itself, or others' held before)
// and the sender of the last one dropped.
func (s *senderQueues) push(from string, m *nats.Msg) (dropped int, of string) {
	size := len(m.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	held, heldBytes := 0, 0
	if q := s.queues[from]; q != nil {
		held, heldBytes = len(q.msgs), q.bytes
	}
	if held+1 > s.senderMsgs || heldBytes+size > s.senderBytes {
		return 1, from
	}
	for s.msgs+1 > s.totalMsgs || s.bytes+size > s.totalBytes {
		byMsgs := s.msgs+1 > s.totalMsgs
		victim := s.largest(byMsgs)
		v := s.queues[victim]
		if v == nil || byMsgs && held+1 > len(v.msgs) || !byMsgs && heldBytes+size > v.bytes {
			return dropped + 1, from
		}
		s.dropNewest(victim, v)
		dropped, of = dropped+1, victim
	}
	q := s.queues[from]
	if q == nil {
		q = &senderQueue{}
		s.queues[from] = q
		s.turns = append(s.turns, from)
	}
	q.msgs = append(q.msgs, m)
	q.bytes += size
	s.msgs++
	s.bytes += size
	select {
	case s.wake <- struct{}{}:
	default: // the worker is woken already
	}
	return dropped, of
}

// largest is the sender holding the most requests (byMsgs) or bytes, ""
// if none holds any. Callers hold s.mu.
func (s *senderQueues) largest(byMsgs bool) string {
	most, who := -1, ""
	for from, q := range s.queues {
		n := q.bytes
		if byMsgs {
			n = len(q.msgs)
		}
		if n > most {
			most, who = n, from
		}
	}
	return who
}

// dropNewest drops the newest request of q, from's queue. Callers hold
// s.mu.
func (s *senderQueues) dropNewest(from string, q *senderQueue) {
	last := len(q.msgs) - 1
	size := len(q.msgs[last].Data)
	q.msgs[last] = nil
	q.msgs = q.msgs[:last]
	q.bytes -= size
	s.msgs--
	s.bytes -= size
	if len(q.msgs) == 0 {
		delete(s.queues, from)
		for i, t := range s.turns {
			if t == from {
				s.turns = append(s.turns[:i], s.turns[i+1:]...)
				break
			}
		}
	}
}

// pop takes the oldest request of the sender whose turn it is, and
// reports whether there was one.
func (s *senderQueues) pop() (from string, m *nats.Msg, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.turns) == 0 {
		return "", nil, false
	}
	from = s.turns[0]
	s.turns = s.turns[1:]
	q := s.queues[from]
	m = q.msgs[0]
	q.msgs[0] = nil
	q.msgs = q.msgs[1:]
	q.bytes -= len(m.Data)
	s.msgs--
	s.bytes -= len(m.Data)
	if len(q.msgs) > 0 {
		s.turns = append(s.turns, from)
	} else {
		delete(s.queues, from)
	}
	return from, m, true
}

// serve calls handle on the requests queued, each sender in turn, one at
// a time, until ctx ends; what is queued then is left unhandled.
func (s *senderQueues) serve(ctx context.Context, handle func(from string, m *nats.Msg)) {
	for ctx.Err() == nil {
		from, m, ok := s.pop()
		if ok {
			handle(from, m)
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		}
	}
}
