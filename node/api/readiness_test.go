package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// logLines counts the log lines at level or above (INFO, WARN, ERROR)
// for which match holds.
func logLines(t *testing.T, raw []byte, match func(map[string]any) bool) int {
	t.Helper()
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["level"] != "DEBUG" && match(e) {
			n++
		}
	}
	return n
}

// TestReadyzLogsChangesOfReadinessNotEachAnswer pins that polling /readyz
// while the node is not ready cannot flood the log: each change of
// readiness is logged once, with its reason; the 503s themselves are not.
func TestReadyzLogsChangesOfReadinessNotEachAnswer(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	waitFor(t, 10*time.Second, func() error {
		if resp := tn.call("GET", "/readyz", "", nil, nil); resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	start := len(tn.logs.Bytes()) // starting up may have logged a change already
	readyzLines := func() (notReady, ready, requests int) {
		raw := tn.logs.Bytes()[start:]
		notReady = logLines(t, raw, func(e map[string]any) bool {
			return e["msg"] == "readyz: not ready" && e["reason"] == "trust data is stale"
		})
		ready = logLines(t, raw, func(e map[string]any) bool { return e["msg"] == "readyz: ready" })
		requests = logLines(t, raw, func(e map[string]any) bool { return e["route"] == "/readyz" })
		return
	}

	tn.clock.Add(25 * time.Hour) // past trust.stale_limit: not ready
	const polls = 20
	for i := range polls {
		if resp := tn.call("GET", "/readyz", "", nil, nil); resp.StatusCode != 503 {
			t.Fatalf("poll %d: %d, want 503 (trust data stale)", i+1, resp.StatusCode)
		}
	}
	if notReady, _, requests := readyzLines(); notReady != 1 || requests != 0 {
		t.Fatalf("%d polls answered 503: %d 'not ready' lines (want 1), %d request lines for /readyz (want 0)", polls, notReady, requests)
	}

	tn.clock.Add(-25 * time.Hour)
	for i := range polls {
		if resp := tn.call("GET", "/readyz", "", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("poll %d after the clock is back: %d, want 200", i+1, resp.StatusCode)
		}
	}
	if notReady, ready, requests := readyzLines(); notReady != 1 || ready != 1 || requests != 0 {
		t.Fatalf("ready again: %d 'not ready', %d 'ready' lines (want 1 and 1), %d request lines for /readyz", notReady, ready, requests)
	}
}
