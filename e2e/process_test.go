package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// convergeWithin bounds how long a statement may take to reach every peer.
// On a quiet machine it takes well under a second.
const convergeWithin = 20 * time.Second

// TestProvincesAsSeparateProcesses runs the federation as separate OS
// processes (nats-server with configs/nats-server.conf, three `hcnode
// serve` with configs/<id>.yaml) and checks, over HTTP only, that codes
// verify across provinces and that revocations reach every peer, even when
// the home node is killed with SIGKILL before or after publishing.
func TestProvincesAsSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hcnode and nats-server and runs a federation of processes")
	}
	t.Parallel() // mostly waits on processes and NATS timers; the federations share nothing
	fed := startFederation(t)
	gd, sh, bj := fed.nodes["440000"], fed.nodes["310000"], fed.nodes["110000"]

	// The other scenarios need codes to verify across provinces at all:
	// without that, each would only wait out its deadline.
	if t.Run("a code issued in 440000 verifies in 310000 and 110000", func(t *testing.T) {
		_, code := gd.enrolAndIssue(t)
		waitValid(t, code, sh, bj)
		v, err := sh.verify(code)
		if err != nil {
			t.Fatal(err)
		}
		if v.Issuer != "440000" || v.Status != "green" || v.MaskedName != "张*" {
			t.Errorf("310000 verified %+v, want issuer 440000, green, 张*", v)
		}
	}) {
		t.Run("status red in 440000 revokes the code in 310000 and 110000", func(t *testing.T) {
			subject, code := gd.enrolAndIssue(t)
			waitValid(t, code, sh, bj)
			gd.setStatus(t, subject, "red")
			waitRevoked(t, code, gd, sh, bj)
		})

		t.Run("a revocation survives SIGKILL right after the status change", func(t *testing.T) {
			subject, code := gd.enrolAndIssue(t)
			waitValid(t, code, sh, bj)
			gd.setStatus(t, subject, "red")
			gd.proc.kill() // published or not: the outbox decides on restart
			fed.restart(t, gd)
			waitRevoked(t, code, gd, sh, bj)
		})

		t.Run("a revocation committed while NATS is unreachable survives SIGKILL", func(t *testing.T) {
			subject, code := gd.enrolAndIssue(t)
			waitValid(t, code, sh, bj)
			// 440000 comes back pointing at a NATS URL where nothing
			// listens: the revocation is committed and cannot be published.
			gd.proc.kill()
			fed.restart(t, gd, "HCNODE_NATS_URLS="+testkit.DeadNATSURL(t))
			if status, err := do("GET", gd.url+"/readyz", "", nil, nil); status != http.StatusServiceUnavailable {
				t.Fatalf("440000 without NATS: /readyz %d (%v), want 503", status, err)
			}
			gd.setStatus(t, subject, "red")
			expectVerdict(t, gd, code, "revoked") // the home node knows at once
			for _, peer := range []*node{sh, bj} {
				expectVerdict(t, peer, code, "ok") // and nobody else can know yet
			}
			gd.proc.kill()
			fed.restart(t, gd)
			waitRevoked(t, code, sh, bj)
		})
	}

	t.Run("a bulk stream killed mid-batch keeps exactly its acknowledged lines", func(t *testing.T) {
		bulkKilledMidStream(t, fed)
	})

	t.Run("nats-server refused nothing a node did", func(t *testing.T) {
		// Every node publishes its keyset, grants, heartbeats, revocations
		// and snapshots, watches and consumes, and answers snapshot
		// requests as its own user of nats-server.conf: none of that may
		// hit a permission the shipped configuration lacks.
		logs, err := filepath.Glob(filepath.Join(fed.root, "logs", "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		var refused []string
		for _, path := range logs {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "Violation") || strings.Contains(line, "refused by permissions") {
					refused = append(refused, filepath.Base(path)+": "+line)
				}
			}
		}
		if len(refused) > 0 {
			t.Errorf("%d refusals, the first:\n%s", len(refused), strings.Join(refused[:min(len(refused), 5)], "\n"))
		}
	})
}

// waitValid waits until every node in ns verifies code as valid.
func waitValid(t *testing.T, code string, ns ...*node) {
	t.Helper()
	for _, n := range ns {
		waitFor(t, convergeWithin, n.id+" verifies the code as valid", func() error {
			return verdict(n, code, "ok")
		})
	}
}

// waitRevoked waits until every node in ns rejects code as revoked.
func waitRevoked(t *testing.T, code string, ns ...*node) {
	t.Helper()
	for _, n := range ns {
		waitFor(t, convergeWithin, n.id+" rejects the code as revoked", func() error {
			return verdict(n, code, "revoked")
		})
	}
}

// expectVerdict checks n's verdict on code now, without waiting.
func expectVerdict(t *testing.T, n *node, code, reason string) {
	t.Helper()
	if err := verdict(n, code, reason); err != nil {
		t.Fatalf("%s: %v", n.id, err)
	}
}

// verdict checks that n verifies code with reason (valid if "ok").
func verdict(n *node, code, reason string) error {
	v, err := n.verify(code)
	if err != nil {
		return err
	}
	if v.Reason != reason || v.Valid != (reason == "ok") {
		return fmt.Errorf("valid %v, reason %q; want reason %q", v.Valid, v.Reason, reason)
	}
	return nil
}
