package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/store"
)

// The reasons are what docs/runbook.md (section 6) tells an operator
// /readyz says.
func TestOutboxReadinessNamesWhatHoldsRevocationsBack(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const stuck = 30 * time.Second
	cases := []struct {
		name    string
		st      store.OutboxState
		covered uint64
		stream  error
		want    string // "" for ready
	}{
		{"empty", store.OutboxState{}, 0, nil, ""},
		{"draining", store.OutboxState{Pending: 40, OldestPending: now.Add(-stuck)}, 0, nil, ""},
		{"stuck", store.OutboxState{Pending: 3, OldestPending: now.Add(-stuck - time.Second)}, 0, nil, "revocation outbox stuck: 3 statements pending, the oldest for 31s"},
		{"set aside, no snapshot yet", store.OutboxState{Poisoned: 1, LastPoisoned: 7, LastPoisonWhy: "too_large"}, 6, nil, "revocation 7 could not be published (too_large)"},
		{"set aside, covered", store.OutboxState{Poisoned: 1, LastPoisoned: 7, LastPoisonWhy: "too_large"}, 7, nil, ""},
		{"stream gone", store.OutboxState{}, 0, errors.New("permission denied"), "revocation stream missing and this node could not create it"},
		{"set aside for a reason this build does not know", store.OutboxState{Poisoned: 1, LastPoisoned: 7,
			LastPoisonWhy: "open /var/lib/hcnode/node.db: disk I/O error"}, 6, nil, "revocation 7 could not be published (unrecognised)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := outboxProblem(c.st, c.covered, c.stream, now, stuck)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("readiness error %v, want one saying %q", err, c.want)
			}
			var nr *NotReady
			if err != nil && (!errors.As(err, &nr) || nr.Check == "" || !strings.Contains(nr.Message, c.want)) {
				t.Errorf("readiness error %#v, want a NotReady naming its check, saying %q", err, c.want)
			}
			if kept := c.st.LastPoisonWhy; err != nil && kept != "" && (strings.Contains(nr.Message, kept) != (kept == "too_large") ||
				!strings.Contains(err.Error(), kept)) {
				t.Errorf("set aside for %q: public message %q, log %q; want a stable code alone in the public message, "+
					"the kept reason in Error() (for the log)", kept, nr.Message, err.Error())
			}
			if c.stream != nil && (nr.Check != ReadyRevocationStream || strings.Contains(nr.Message, c.stream.Error()) ||
				!strings.Contains(err.Error(), c.stream.Error())) {
				t.Errorf("stream gone: %+v, want check %q, NATS's error in Error() only (for the log), not in the public message",
					nr, ReadyRevocationStream)
			}
		})
	}
}
