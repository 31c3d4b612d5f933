package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/store"
)

// TestNotReadyUntilARestoredDatabaseIsReconciled: a node whose database
// was put back from a backup (hcnode restore marks it store.Restored)
// answers /readyz 503, saying why, until it has taken back from the
// federation the revocations it published after the backup. Before, it
// answered ready at once, while a code revoked after the backup still
// verified as valid until the reconciliation ran: the restore drill's
// "check /readyz" and a load balancer both sent scanners to it.
func TestNotReadyUntilARestoredDatabaseIsReconciled(t *testing.T) {
	d := startNode(t)
	ctx := context.Background()
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(d.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, "the node to be ready", func() error {
		if st, body := readyz(); st != http.StatusOK {
			return fmt.Errorf("%d %s", st, body)
		}
		return nil
	})

	// The state of a restored node between its start and its
	// reconciliation (the link reconciles only when it starts, so the
	// mark stays until it is removed here).
	if err := d.DB.SetMeta(ctx, store.Restored, time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if st, body := readyz(); st != http.StatusServiceUnavailable || !strings.Contains(body, "restored from a backup") {
		t.Fatalf("/readyz of a restored node not yet reconciled: %d %s, want 503 saying so", st, body)
	}
	if err := d.Node.Ready(ctx); err == nil {
		t.Fatal("Node.Ready: nil for a restored node not yet reconciled")
	}

	// Reconciled (the link removes the mark): ready again.
	if err := d.DB.DeleteMeta(ctx, store.Restored); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, "the reconciled node to be ready", func() error {
		if st, body := readyz(); st != http.StatusOK {
			return errors.New(body)
		}
		return nil
	})
}
