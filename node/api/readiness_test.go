package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/api"
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

// TestReadyzNamesTheFailingCheckNotItsInternalError pins that /readyz,
// which anyone may ask, names the failing check and says what is wrong
// in a sentence, without the internal error (a database path, a NATS
// URL), which goes to the log. Before, the body was err.Error(): both
// showed to anyone.
func TestReadyzNamesTheFailingCheckNotItsInternalError(t *testing.T) {
	t.Parallel()
	tn := startNode(t, "440000")
	const internal = "open /var/lib/hcfed/440000/node.db: nats: dial nats://10.1.2.3:4222: connection refused"
	cases := []struct {
		name        string
		err         error
		check, says string
	}{
		{"classified", &node.NotReady{Check: node.ReadyRevocationStream, Message: "revocation stream missing and this node could not create it",
			Err: errors.New(internal)}, "revocation_stream", "revocation stream missing"},
		{"unclassified", fmt.Errorf("federation cache: %s", internal), "federation", "log"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			s := api.New(api.Config{Node: tn.d.Node, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
				Ready: func(context.Context) error { return c.err }})
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
			}
			if rec.Code != 503 || body["status"] != "unavailable" || body["check"] != c.check || !strings.Contains(body["reason"], c.says) {
				t.Errorf("/readyz: %d %v, want 503 naming check %q, saying %q", rec.Code, body, c.check, c.says)
			}
			for _, secret := range []string{"/var/lib", "nats://", "10.1.2.3", "node.db"} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("/readyz shows %q to anyone: %s", secret, rec.Body)
				}
			}
			if n := logLines(t, logs.Bytes(), func(e map[string]any) bool {
				return e["msg"] == "readyz: not ready" && e["check"] == c.check && strings.Contains(fmt.Sprint(e["err"]), internal)
			}); n != 1 {
				t.Errorf("%d 'not ready' lines with the full error, want 1:\n%s", n, logs.Bytes())
			}
		})
	}
}
