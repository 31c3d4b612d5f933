package daemon_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/hcfed/hcfed/node/store"
)

// revocationCursor reads province i's saved revocation stream cursor.
func (f *fedTest) revocationCursor(i int) string {
	f.t.Helper()
	v, err := f.c.Nodes[i].DB.GetMeta(context.Background(), "federation.revocation_cursor")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	return v
}

// A peer whose statement cache cannot be written keeps the revocation it
// applied (it verifies as revoked), counts the failure, reports not ready
// and holds its saved cursor; once the disk accepts writes again the
// queued delta is written, so after a restart with NATS unreachable the
// revoked code is still refused. Before the persister, the failed write
// was dropped and the cursor moved past it: the restarted peer said "ok".
func TestFailedCacheWriteHoldsTheCursorAndTheRevocationSurvivesRestartWithoutNATS(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	subject, code := f.enrolAndIssue(0, "张三", "11010519491231002X")
	f.eventually(1, code, "ok")
	f.waitReady(1)
	f.waitMetricValue(1, "hcfed_federation_cache_backlog", "0")
	before := f.revocationCursor(1)

	raw, err := sql.Open("sqlite", f.c.Configs[1].DBPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if _, err := raw.Exec(`CREATE TRIGGER fail_statements BEFORE INSERT ON statements BEGIN SELECT RAISE(ABORT, 'injected'); END`); err != nil {
		t.Fatal(err)
	}

	f.setStatus(0, subject, "red")
	f.eventually(1, code, "revoked") // applied to the trust state at once
	waitFor(t, "the failed cache write to be counted and shown in readiness", func() error {
		if got := f.metric(1, "hcfed_federation_cache_write_failures_total"); got == "" || got == "0" {
			return fmt.Errorf("cache write failures = %q", got)
		}
		if st := f.call(1, "GET", "/readyz", "", nil, nil); st == 200 {
			return errors.New("ready although cache writes fail")
		}
		return nil
	})
	if got := f.metric(1, "hcfed_federation_cache_backlog"); got == "0" {
		t.Fatal("the unwritten delta left the backlog")
	}
	if got := f.revocationCursor(1); got != before {
		t.Fatalf("cursor moved from %q to %q past an unwritten delta", before, got)
	}

	if _, err := raw.Exec(`DROP TRIGGER fail_statements`); err != nil {
		t.Fatal(err)
	}
	f.waitMetricValue(1, "hcfed_federation_cache_backlog", "0")
	f.waitReady(1)

	f.restartWithNATS(1, unreachableNATS)
	if got := f.verify(1, code); got != "revoked" {
		t.Fatalf("revoked code at the restarted peer without NATS: %s", got)
	}
}
