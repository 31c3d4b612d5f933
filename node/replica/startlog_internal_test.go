package replica

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// The start-up line with the replica's fingerprint is logged before home
// answers, so it is right both for a replica home sends no content key
// until the confirmation and for one whose enc key home held before
// migration 0022 (grandfathered), which serves meanwhile; home's answer
// to the registration is then logged once, as one warning. Before, the
// start-up line said "home sends no content key until then" to both.
func TestReplicaStartUpLogIsRightForAGrandfatheredAndAnUnconfirmedReplica(t *testing.T) {
	for _, c := range []struct {
		name, register, want string
	}{
		{"grandfathered", `{"province":"440000","name":"r1","trusted":false,"grandfathered":true}`,
			"home serves this replica on the enc key it held before the upgrade"},
		{"unconfirmed", `{"province":"440000","name":"r1","trusted":false}`,
			"it gets no content key and refuses every scanner until then"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked atomic.Int32 // registrations and syncs
			home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				asked.Add(1)
				switch req.URL.Path {
				case RegisterPath:
					_, _ = w.Write([]byte(c.register))
				case SyncPath:
					w.WriteHeader(http.StatusNotModified) // nothing new: the refresh works
				default:
					w.WriteHeader(http.StatusNoContent)
				}
			}))
			defer home.Close()
			r, logs := newTestReplica(t, home.URL, 10*time.Millisecond)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); r.Run(ctx) }()
			// Several refreshes: the warning is still logged once.
			err := testkit.Poll(5*time.Second, 5*time.Millisecond, func() error {
				if n := asked.Load(); n < 4 {
					return fmt.Errorf("home asked %d times, want 4", n)
				}
				return nil
			})
			cancel()
			<-done
			if err != nil {
				t.Fatalf("%v:\n%s", err, logs.String())
			}
			out := logs.String()
			if n := strings.Count(out, "replica key fingerprint"); n != 1 {
				t.Errorf("start-up line logged %d times, want once:\n%s", n, out)
			}
			if strings.Contains(out, "home sends no content key until then") {
				t.Errorf("the start-up line says home sends no content key, whatever home does:\n%s", out)
			}
			if !strings.Contains(out, "unless it held this replica's enc key before the upgrade (grandfathered)") {
				t.Errorf("the start-up line does not say what a grandfathered replica does:\n%s", out)
			}
			if n := strings.Count(out, "level=WARN"); n != 1 || strings.Count(out, c.want) != 1 {
				t.Errorf("%d warnings, want one saying %q once:\n%s", n, c.want, out)
			}
		})
	}
}
