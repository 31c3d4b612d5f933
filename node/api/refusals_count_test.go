package api_test

import (
	"net/http"
	"testing"
	"time"
)

// registeredScanner is a scanner an operator registered: its id and token.
type registeredScanner struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// registerScanner registers a scanner named name at a station.
func (tn *testNode) registerScanner(name string) registeredScanner {
	tn.t.Helper()
	var sc registeredScanner
	if r := tn.call("POST", "/v1/scanners", tn.operator, map[string]string{"name": name, "place": "station"}, &sc); r.StatusCode != http.StatusCreated {
		tn.t.Fatalf("register a scanner: HTTP %d", r.StatusCode)
	}
	return sc
}

// A stolen scanner token tries a refused route 30 times within a minute
// and stops. Only the first refusal was written; the other 29 were
// counted for the pair's next entry, which never came: the audit log
// showed one refusal of a burst of 30 for as long as the node ran, and a
// restart forgot the count. Once the pair's minute has ended, the node's
// periodic tick writes the count (a summary entry, no refusal of its
// own); a stop writes the counts of windows still open.
func TestARefusedBurstIsCountedInTheAuditLogWithoutAnotherRefusal(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	sc := n.registerScanner("gate 3")
	actor := "scanner:" + sc.ID
	for range 30 {
		n.refuse("POST", "/v1/subjects", sc.Token)
	}
	n.refuse("GET", "/v1/scanners", sc.Token)
	n.refuse("GET", "/v1/scanners", sc.Token)
	n.tick()
	if got := n.refusals(actor); len(got) != 2 {
		t.Fatalf("a tick within the minute: entries %+v, want the two routes' first refusals only", got)
	}

	n.clock.Add(time.Minute)
	n.tick()
	got := n.refusals(actor)
	if len(got) != 4 {
		t.Fatalf("a tick after the minute: entries %+v, want two more, the routes' counts", got)
	}
	counts := map[string]string{got[2].target: got[2].detail, got[3].target: got[3].detail}
	want := map[string]string{"POST /v1/subjects": `{"repeated":29,"summary":true}`, "GET /v1/scanners": `{"repeated":1,"summary":true}`}
	for route, d := range want {
		if counts[route] != d {
			t.Errorf("the count of %s after the minute: %q, want %q", route, counts[route], d)
		}
	}
	n.tick()
	if got := n.refusals(actor); len(got) != 4 {
		t.Errorf("a second tick wrote the counts again: %+v", got)
	}

	// The pair was forgotten with its count written: the next refusal is
	// written at once, and a stop writes what its minute counted since.
	n.refuse("POST", "/v1/subjects", sc.Token)
	n.refuse("POST", "/v1/subjects", sc.Token)
	n.refuse("POST", "/v1/subjects", sc.Token)
	if got := n.refusals(actor); len(got) != 5 || got[4].detail != "" {
		t.Fatalf("the first refusal after the counts: entries %+v, want a fifth, no detail", got)
	}
	n.d.Node.Close()
	if got := n.refusals(actor); len(got) != 6 || got[5].detail != `{"repeated":2,"summary":true}` {
		t.Fatalf("after the node closed: entries %+v, want a sixth counting 2", got)
	}
}

// A count the tick cannot write is kept, and the next tick writes it.
func TestARefusalCountTheTickCannotWriteIsWrittenAtTheNext(t *testing.T) {
	t.Parallel()
	n := startNode(t, "440000")
	sc := n.registerScanner("gate 4")
	actor := "scanner:" + sc.ID
	for range 5 {
		n.refuse("POST", "/v1/subjects", sc.Token)
	}
	n.clock.Add(time.Minute)
	undo := n.failAudit("access.refused")
	n.tick()
	undo()
	if got := n.refusals(actor); len(got) != 1 {
		t.Fatalf("a tick whose write failed: entries %+v, want the first refusal only", got)
	}
	n.tick()
	if got := n.refusals(actor); len(got) != 2 || got[1].detail != `{"repeated":4,"summary":true}` {
		t.Fatalf("the next tick: entries %+v, want a second counting 4", got)
	}
}
