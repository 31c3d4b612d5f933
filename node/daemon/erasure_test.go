package daemon_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
)

// TestDeletedResidentLeavesNothingReadableAnywhereInTheFederation (seed
// rule 8): a Guangdong resident whose code was verified in Shanghai and
// Beijing (receipts home) and at a Guangdong verifier replica, and whose
// contact Shanghai obtained in a lookup, deletes their record. Then no
// node's files (node.db, keys.db and their WALs, replica.db, the NATS
// store) and no log line hold their name, ID number or phone; their data
// key is gone from Guangdong's keys.db, so what Guangdong's audit log
// sealed under it (the lookup's case) opens no more; Shanghai's sealed
// copy of the contact is deleted; the replica's outbox is empty; and the
// code is revoked everywhere.
func TestDeletedResidentLeavesNothingReadableAnywhereInTheFederation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &syncBuffer{}
	clock := &testClock{}
	c, closeAll := startSearchedFederation(t, daemon.ClusterConfig{Dir: dir, Now: clock.Now, Configure: func(cfg *config.Config) {
		scannerFriendly(cfg)
		cfg.Privacy.Collect = []string{"name", "id_number", "phone"}
		cfg.Privacy.ReceiptsEvery = time.Second
	}}, logs)
	f := &lookupFed{fedTest: &fedTest{t: t, c: c}, clock: clock}
	for i := range c.Nodes {
		f.addScanner(i)
	}
	rt := &replicaTest{fedTest: f.fedTest}
	replica := rt.startReplica(gd, "r1", daemon.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	p := person{"黄小明", idWithCheck("44010619900101123"), "13912345601"}
	r := f.enrolWithPhone(gd, p.name, p.id, p.phone)
	f.waitPeersReady()

	// Verified in Shanghai and Beijing: each sends Guangdong a receipt.
	for _, i := range []int{sh, bj} {
		f.verifyUntil(i, r.Code, "Guangdong recording "+c.Configs[i].Province+"'s receipt", func() error {
			for _, e := range f.auditEntries(gd) {
				if e.Action == "code.verify.peer" && e.Actor == "peer:"+c.Configs[i].Province {
					return nil
				}
			}
			return errors.New("none yet")
		})
	}
	// Verified at the replica: the record reaches Guangdong's audit log.
	rt.eventuallyAtReplicas(f.scanners[gd], r.Code, "ok", 15*time.Second)
	waitFor(t, "the replica's scan in Guangdong's audit log", func() error {
		for _, e := range f.auditEntries(gd) {
			if e.Action == "code.verify" && detailField(t, e, "replica") == "r1" {
				return nil
			}
		}
		return errors.New("not yet")
	})
	// Shanghai looks the traveler up and keeps the contact, sealed.
	if st, _, got := f.lookupWhenConnected(sh, map[string]string{"code": r.Code,
		"legal_basis": legalBasis, "case_id": "SH-CASE-2026-0042"}); st != 200 || got["name"] != p.name || got["phone"] != p.phone {
		t.Fatalf("lookup: %d %v", st, got)
	}
	lookupID := detailField(t, f.auditOf(sh, "lookup.result", 1)[0], "lookup")
	if _, err := c.Nodes[sh].DB.Lookup(context.Background(), lookupID); err != nil {
		t.Fatalf("Shanghai keeps no copy of the lookup %q before the deletion: the test shows nothing (%v)", lookupID, err)
	}

	// The resident, green, deletes their record.
	f.mustCall(gd, "DELETE", "/v1/subjects/"+r.ID, r.Token, nil, nil, 204)
	for _, i := range []int{gd, sh, bj} {
		f.eventually(i, r.Code, "revoked")
	}
	rt.eventuallyAtReplicas(f.scanners[gd], r.Code, "revoked", 15*time.Second)
	waitFor(t, "Shanghai deleting its copy of the deleted resident's contact", func() error {
		if _, err := c.Nodes[sh].DB.Lookup(context.Background(), lookupID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	if e := f.auditOf(gd, "lookup.erase", 1)[0]; e.Target != r.ID || e.Detail != `{"codes":1,"sent":true,"to":"310000"}` {
		t.Errorf("Guangdong audits the erasure as %s %s, want it sent to 310000 for %s", e.Target, e.Detail, r.ID)
	}
	if e := f.auditOf(sh, "lookup.erased", 1)[0]; e.Actor != "peer:440000" || e.Detail != `{"codes":1,"deleted":1}` {
		t.Errorf("Shanghai audits the erasure as %s %s", e.Actor, e.Detail)
	}
	if got := f.auditEntries(bj); slices.ContainsFunc(got, func(e store.AuditEntry) bool { return e.Action == "lookup.erased" }) {
		t.Error("Beijing, which asked nothing, was sent an erasure")
	}
	waitFor(t, "the replica's outbox empty", func() error {
		if _, m := httpDo(t, "GET", replica.MetricsURL, "", nil); !strings.Contains(m, "\nhcfed_replica_outbox 0\n") {
			return errors.New("records still queued")
		}
		return nil
	})

	if err := replica.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closeAll(); err != nil {
		t.Fatalf("close: %v", err)
	}
	secrets := []string{p.name, p.id, p.phone}
	requireNotInFiles(t, dir, secrets...)
	requireNoPersonalDataOrKeys(t, rt.dirs[0], secrets)
	for _, s := range secrets {
		if l := logs.String(); l == "" || strings.Contains(l, s) {
			t.Errorf("%q in the logs (or no logs captured)", s)
		}
	}
	gdCfg, shCfg := c.Configs[gd], c.Configs[sh]
	requireRows(t, filepath.Join(gdCfg.DataDir, "keys.db"), `SELECT count(*) FROM subject_keys WHERE id = ?`, r.ID, 0)
	requireRows(t, filepath.Join(gdCfg.DataDir, "keys.db"), `SELECT count(*) FROM subject_index WHERE id = ?`, r.ID, 0)
	requireRows(t, gdCfg.DBPath(), `SELECT count(*) FROM subjects WHERE id = ?`, r.ID, 0)
	requireRows(t, gdCfg.DBPath(), `SELECT count(*) FROM codes WHERE subject_id = ?`, r.ID, 0)
	requireRows(t, shCfg.DBPath(), `SELECT count(*) FROM lookups WHERE home = ?`, "440000", 0)
	requireRows(t, rt.cfgs[0].ReplicaDBPath(), `SELECT count(*) FROM replica_outbox`, nil, 0)
}

// requireRows fails unless query, with arg, counts want rows in the
// SQLite file at path (opened read-only after the nodes closed it).
func requireRows(t *testing.T, path, query string, arg any, want int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var args []any
	if arg != nil {
		args = append(args, arg)
	}
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", filepath.Base(path), query, err)
	}
	if n != want {
		t.Errorf("%s: %s [%v]: %d rows, want %d", filepath.Base(path), query, arg, n, want)
	}
}
