package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// The bytes a scanner takes in home's answer, as home encodes it
// (encoding/json, HTML escaped, as echo's c.JSON), measured over 1,000:
// maxHomeResponse must hold 200,000 of the largest a home can register
// (a place of 50 characters each escaped to 6 bytes) and the content keys.
func TestMaxHomeResponseHoldsTwoHundredThousandScanners(t *testing.T) {
	perScanner := func(place string) int {
		const n = 1000
		s := node.ReplicaSync{Province: "440000", Time: time.Now(), ContentKeys: ""}
		for range n {
			s.Scanners = append(s.Scanners, node.ReplicaScanner{ID: "sc_" + strings.Repeat("A", 16), Place: place,
				Scope: node.ScannerScope, TokenHash: node.ScannerTokenHash("hct_x")})
		}
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(s); err != nil {
			t.Fatal(err)
		}
		return (b.Len() + n - 1) / n
	}
	typical, largest := perScanner("Gate 3, Central Station"), perScanner(strings.Repeat("<", 50))
	t.Logf("bytes per scanner: %d typical, %d at most", typical, largest)
	if need := 200_000*largest + trust.MaxReplicaKeysLen*2 + 1<<10; need > maxHomeResponse {
		t.Fatalf("200,000 scanners of %d bytes need %d bytes, maxHomeResponse is %d", largest, need, maxHomeResponse)
	}
}

// count reads a counter.
func count(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// An answer of home's over the limit is not cut silently: every one is
// counted, and the first of a run is logged saying what limit, which
// constant and what to do.
func TestAnAnswerOverTheLimitIsCountedAndLoggedSayingWhatToDo(t *testing.T) {
	const limit = 1 << 10
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == SyncPath {
			_, _ = w.Write([]byte(`{"province":"440000","scanners":[` + strings.Repeat(" ", limit) + `]}`))
			return
		}
		if req.URL.Path == RegisterPath {
			_, _ = w.Write([]byte(`{"province":"440000","name":"r1","trusted":true}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer home.Close()
	r, logs := newTestReplica(t, home.URL, 20*time.Millisecond)
	r.home.limit = limit
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	if err := testkit.Poll(5*time.Second, 10*time.Millisecond, func() error {
		if n := count(t, r.tooLarge); n < 3 {
			return fmt.Errorf("%v answers over the limit counted, want 3", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	out := logs.String()
	if n := strings.Count(out, "over this replica's limit"); n != 1 {
		t.Errorf("logged %d times, want once for the run:\n%s", n, out)
	}
	for _, want := range []string{"level=ERROR", "limit_bytes=1024", "maxHomeResponse", "hcnode scanner remove", SyncPath} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	if err := r.stale(); err == nil {
		t.Error("a replica that never installed an answer accepts scanners")
	}
}

// newTestReplica makes a replica of province 440000 whose home is
// homeURL, refreshing every refresh, on a database and KEK of its own,
// logging as text into the buffer it returns.
func newTestReplica(t *testing.T, homeURL string, refresh time.Duration) (*Replica, *testkit.Buffer) {
	t.Helper()
	db, err := store.OpenReplica(t.Context(), filepath.Join(t.TempDir(), "replica.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek, err := seal.NewKey(seal.NewKeyMaterial())
	if err != nil {
		t.Fatal(err)
	}
	s := config.Default("440000")
	s.Role = config.RoleVerifier
	s.Replica = config.Replica{Home: homeURL, Token: "hct_test", Refresh: refresh, MaxStale: time.Second, SendEvery: time.Minute}
	logs := new(testkit.Buffer)
	r, err := New(t.Context(), Config{Settings: s, DB: db, KEK: kek, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return r, logs
}
