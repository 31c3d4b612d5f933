package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// A request's id was whatever its X-Request-ID header said: any client —
// a resident's own app — wrote text of its choosing, up to the header
// limit, into every log line of its requests and had it echoed back. Only
// a trusted proxy's id, of a request id's shape, is kept now; any other
// request gets an id of the node's.
func TestRequestIDIsTheNodesUnlessATrustedProxySentOne(t *testing.T) {
	t.Parallel()
	chosen := "rid-" + residentID
	unshaped := "rid " + residentName + " " + strings.Repeat("x", 200)
	get := func(n *testNode, rid string) string {
		t.Helper()
		req, err := http.NewRequest("GET", n.d.URL+"/v1/privacy", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-ID", rid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-ID")
		if got == "" {
			t.Fatal("no request id answered")
		}
		// The request's log line is written once the response is on its
		// way, so the client may read the answer before it.
		testkit.WaitFor(t, 5*time.Second, 5*time.Millisecond, "request id "+got+" logged",
			testkit.Holds(func() bool { return strings.Contains(n.logs.String(), `"request_id":"`+got+`"`) }))
		return got
	}

	n := startNode(t, "440000")
	for _, rid := range []string{chosen, unshaped} {
		if got := get(n, rid); got == rid {
			t.Errorf("a client's X-Request-ID %q was taken as the request's id", rid)
		}
	}
	if logs := n.logs.String(); strings.Contains(logs, residentID) || strings.Contains(logs, residentName) {
		t.Error("what a client put in X-Request-ID is in the log")
	}

	behind := startNode(t, "310000", func(c *config.Config) {
		c.TrustedProxies, c.PublicURL = []string{"127.0.0.0/8"}, "https://hc.example.gov.cn"
	})
	if got := get(behind, chosen); got != chosen {
		t.Errorf("a trusted proxy's request id %q became %q", chosen, got)
	}
	if got := get(behind, unshaped); got == unshaped {
		t.Error("a trusted proxy's request id of no request id's shape was kept")
	}
}
